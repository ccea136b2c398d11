"""Requests to the speech engines over Wyoming: transcribe, synthesize, describe, manage voices."""
