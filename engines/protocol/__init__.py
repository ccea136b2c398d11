"""The contract the daemon and the engines share, in pure Python (no third-party imports).

Both sides import it: the daemon (light, no torch) and every engine venv. Keep it free of
anything but the standard library.
"""
