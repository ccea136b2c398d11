"""The neutral hotkey interface: a backend reports the chord's press and release, nothing more.

Push-to-talk versus toggle is decided by the caller (the assistant), not here. Callbacks are
invoked on the asyncio loop that called :meth:`HotkeyBackend.start`, never on a listener thread.
"""
from __future__ import annotations

import abc
from typing import Callable, ClassVar

from daemon.config.chord import Chord
from daemon.platform.hotkey.chord import ChordState, Edge

Callback = Callable[[], None]


class HotkeyUnavailable(RuntimeError):
    """The requested backend cannot run here; the message says why and what to do instead."""


class HotkeyBackend(abc.ABC):
    """Base of every hotkey backend.

    Capability flags let the tray and the assistant adapt: without ``HAS_RELEASE`` only
    toggle mode makes sense; without ``GLOBAL`` the key works only while our window has focus.
    """

    NAME: ClassVar[str] = "base"
    HAS_RELEASE: ClassVar[bool] = True  # reports key-up: push-to-talk possible
    GLOBAL: ClassVar[bool] = True  # sees the key whatever window has focus

    def __init__(self, chord: Chord) -> None:
        self.chord = chord
        self._state = ChordState(chord)
        self._on_press: Callback | None = None
        self._on_release: Callback | None = None

    async def start(self, on_press: Callback, on_release: Callback) -> None:
        """Begin listening; must be awaited on the loop that should receive the callbacks."""
        self._on_press, self._on_release = on_press, on_release
        await self._start()

    async def stop(self) -> None:
        """Stop listening; an active chord is released first so no turn stays open."""
        self._emit(self._state.reset())
        await self._stop()

    @abc.abstractmethod
    async def _start(self) -> None: ...

    @abc.abstractmethod
    async def _stop(self) -> None: ...

    # loop side: feed the pure state machine, emit edges
    def _key_down(self, key: str) -> None:
        self._emit(self._state.down(key))

    def _key_up(self, key: str) -> None:
        self._emit(self._state.up(key))

    def _emit(self, edge: Edge | None) -> None:
        callback = {Edge.PRESS: self._on_press, Edge.RELEASE: self._on_release}.get(edge) if edge else None
        if callback:
            callback()
