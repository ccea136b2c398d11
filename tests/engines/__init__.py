"""Real engine subprocesses with tiny random-weight models."""
