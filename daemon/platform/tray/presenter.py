"""Glue between the event bus and a tray backend: reduce events, show frames.

Subscribe ``TrayPresenter.on_event`` to the bus. It runs on the publishing (core loop)
thread, costs a reduce and a comparison, and hands changed frames to the backend,
which forwards them to its UI thread. No decisions are taken here.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Sequence

from .base import ICON_SIZE, TrayBackend, frame_for
from .view import TrayView, reduce

LEVEL_INTERVAL_S = 1 / 15  # input-level redraws at most this often: trays re-read the whole icon


class TrayPresenter:
    def __init__(self, backend: TrayBackend, view: TrayView | None = None, *,
                 theme_setting: str = "auto", inputs: Sequence[str] = (),
                 outputs: Sequence[str] = (), icon_size: int = ICON_SIZE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.backend = backend
        self._view = view or TrayView()
        self._theme = theme_setting
        self._devices = (tuple(inputs), tuple(outputs))
        self._size = icon_size
        self._lock = threading.Lock()  # events and device updates may come from two threads
        self._clock = clock
        self._level_shown_at = float("-inf")
        self._refresh()

    @property
    def view(self) -> TrayView:
        return self._view

    def on_event(self, event: Any) -> None:
        """A bus subscriber: update the view and show it if anything visible changed."""
        with self._lock:
            new = reduce(self._view, event)
            if new is self._view:
                return
            self._view = new
            if getattr(event, "kind", None) == "level":
                now = self._clock()
                if now - self._level_shown_at < LEVEL_INTERVAL_S:
                    return  # the view keeps the level; the next frame shows it
                self._level_shown_at = now
            self._refresh()

    def set_devices(self, inputs: Sequence[str], outputs: Sequence[str]) -> None:
        """The audio device names for the menus (refresh on hot-plug)."""
        with self._lock:
            self._devices = (tuple(inputs), tuple(outputs))
            self._refresh()

    def _refresh(self) -> None:
        inputs, outputs = self._devices
        self.backend.show(frame_for(self._view, inputs, outputs, self._theme, self._size))
