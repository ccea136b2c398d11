"""Notice a PortAudio stream that silently stopped calling back.

A device that is unplugged, suspended by the sound server or whose server died does not
always end the stream with an error: often the callbacks just stop. The callback thread
only stamps :attr:`StallWatchdog.last` (a float store, atomic in CPython, no lock needed);
the check runs as a timer on the asyncio loop and reports once per stall.
"""
from __future__ import annotations

import asyncio
import time
from typing import Callable


class StallWatchdog:
    """Calls ``on_stall(seconds_silent)`` once when no callback came for ``timeout`` seconds."""

    def __init__(self, timeout: float, on_stall: Callable[[float], None]) -> None:
        self.timeout = timeout
        self._on_stall = on_stall
        self.last = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._reported = False

    def kick(self) -> None:
        """From any thread: the stream is alive now."""
        self.last = time.monotonic()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stop()
        self.last, self._reported = time.monotonic(), False
        self._arm(loop)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = loop.call_later(self.timeout / 2, self._check, loop)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        silent = time.monotonic() - self.last
        if silent <= self.timeout:
            self._reported = False  # it recovered: a later stall is news again
        elif not self._reported:
            self._reported = True
            self._on_stall(silent)
        self._arm(loop)
