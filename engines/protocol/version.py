"""The sisyphus version: the daemon reports it, and our engines advertise it in ``describe``."""
VERSION = "0.1.0"  # keep equal to pyproject.toml's version (tests/unit/test_package.py checks)
