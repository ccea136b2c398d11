"""Engine processes: Wyoming servers for speech recognition and synthesis.

Each engine runs in its own virtual environment and process; the daemon talks to
them over the Wyoming protocol only (see engines/common).
"""
