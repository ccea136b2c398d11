"""The microphone as the assistant holds it: ``begin(sink)`` when a hold of the hotkey starts (the
pre-roll first, then live blocks of 16 kHz mono s16 go to ``sink``), ``end()`` when it ends.

Under it: a capture device (daemon/audio/capture.py), a WAV file fed once per hold
(``--mic-file``, daemon/audio/files.py), or nothing (``--no-audio``). A capture device that did not
open (``usable()`` is False: the turn says why) is left alone; `sisyphus set-input-device` opens it.
"""
from __future__ import annotations

from typing import Any, Callable, Coroutine, Protocol

Sink = Callable[[bytes], None]
Spawn = Callable[[Coroutine[Any, Any, None], str], object]  # runs a coroutine as a task its owner keeps


class Device(Protocol):
    async def begin(self) -> None: ...
    async def end(self) -> None: ...


class FileSource(Protocol):
    def start_turn(self) -> None: ...


def _usable() -> bool:
    return True


class Microphone:
    """Delivers a source's blocks to the sink of the hold in progress (see the module's doc)."""

    def __init__(self, spawn: Spawn, usable: Callable[[], bool] = _usable) -> None:
        self._spawn, self._usable = spawn, usable
        self._sink: Sink | None = None
        self._device: Device | None = None
        self._file: FileSource | None = None

    def deliver(self, block: bytes) -> None:
        """A block from the source (on the loop): to the sink of the last hold."""
        if self._sink is not None:
            self._sink(block)

    def use_device(self, device: Device) -> None:
        """A capture device that delivers to :meth:`deliver` between its ``begin()`` and ``end()``."""
        self._device = device

    def use_file(self, source: FileSource) -> None:
        """A file source that delivers to :meth:`deliver` once per hold, from ``start_turn()`` on."""
        self._file = source

    def begin(self, sink: Sink) -> None:
        self._sink = sink
        if self._file is not None:
            self._file.start_turn()
        elif self._device is not None and self._usable():
            self._spawn(self._device.begin(), "capture-edge")

    def end(self) -> None:
        if self._device is not None and self._usable():
            self._spawn(self._device.end(), "capture-edge")
