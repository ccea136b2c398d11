"""Per-OS code behind small interfaces: hotkey/, tray/, autostart/, ipc/ (the control channel), lock/ (the
one-instance lock), process/ (child processes that die with the daemon); each a neutral base, one module per
OS (importable everywhere), and a dummy where a desktop may lack the feature.

The top of the daemon's floor (speech < audio < config < platform): it may use the settings and the
audio device names, and nothing above it (tests/unit/test_layout.py).
"""
