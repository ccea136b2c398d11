"""The contract the daemon and the engines share: framing, transports, error and exit codes, events, chunking.

Both sides import it: the daemon (light, no torch) and every engine venv. Keep it to the
standard library and wyoming.
"""
