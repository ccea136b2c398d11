"""The contract both sides of the engine boundary share: framing, error and exit codes, private events."""
