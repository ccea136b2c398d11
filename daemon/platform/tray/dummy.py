"""A tray that shows nothing and records everything: for tests and display-less sessions.

Without a display the daemon still runs (hotkey over the control socket, CLI status);
this backend keeps the same interface so the composition root has no special case.
"""
from __future__ import annotations

import threading
from typing import Callable

from .base import Frame, TrayBackend
from .menu import Actions, find


class DummyTray(TrayBackend):
    name = "dummy"

    def __init__(self, actions: Actions) -> None:
        super().__init__(actions)
        self.frames: list[Frame] = []  # every distinct frame shown, in order
        self.notifications: list[tuple[str, str]] = []
        self._stopped = threading.Event()

    def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Block like a real tray's main loop until ``stop``."""
        if on_ready:
            on_ready()
        self._stopped.wait()

    def stop(self) -> None:
        self._stopped.set()

    def _apply(self, frame: Frame, previous: Frame | None) -> None:
        self.frames.append(frame)

    def notify(self, title: str, text: str) -> None:
        self.notifications.append((title, text))

    def click(self, *path: str) -> None:
        """Invoke the menu item reached by ``path`` texts, as a user's click would."""
        if self.shown is None:
            raise RuntimeError("the tray shows no menu yet; call show() with a frame first")
        self.activate(find(self.shown.menu, *path))
