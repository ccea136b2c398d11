"""What differs by OS or desktop, behind small interfaces (the modules for every OS import everywhere, their
OS calls inside functions, so all of them are tested on any OS):

- hotkey/: the global hotkey (pynput where it can see the keyboard, else a dummy that ``sisyphus ptt``
  drives), the chord's key state machine, macOS's privacy permissions;
- tray/: the tray icon: a pure view, icons and the menu model, the presenter on the event bus, and the
  pystray and dummy backends;
- autostart/: start at login (Linux, macOS, Windows, a dummy) and ``sisyphus autostart``;
- ipc/: the control channel by URI (a unix socket, or loopback tcp with a token on Windows);
- lock/: the one-instance file lock (POSIX, Windows);
- process/: engine processes tied to the daemon and stopped with it (POSIX, Windows, a dummy).

The top of the daemon's floor (speech < audio < config < platform): it may use the settings, the chord
grammar and the audio device names, and nothing above it (tests/unit/test_layout.py).
"""
