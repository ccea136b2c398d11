"""The composition root: builds the parts from the settings and runs them (only the CLI imports it)."""
