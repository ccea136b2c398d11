"""The assistant: one spoken turn, its pure rules, and cloned voices."""
