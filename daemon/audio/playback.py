"""Speaker output: a sounddevice OutputStream fed from a bounded queue of turn-tagged chunks.

Every chunk carries the generation of the turn that produced it. ``flush(g)`` drops the
audio of turn ``g`` and every older turn at once, including what the device callback has
not yet written (barge-in); their chunks that arrive later are dropped on arrival. The
first chunk of a newer turn supersedes older queued audio too. Internally this is one
number, the *floor*: the oldest generation still allowed to play.

Threading: conversion (resampling to the device rate) runs on the asyncio loop; the
PortAudio callback only copies queued samples into the device buffer under a short lock and
hands edge notifications back with ``call_soon_threadsafe``:
- ``on_start(generation)`` when the first sample of a turn is handed to the device;
- ``on_end(generation, interrupted)`` when its last sample has *played* (handed over plus
  the device's output latency), or at once with ``interrupted=True`` when flushed.
Earcons go through :meth:`clip`: queued in order with the current turn, no edges reported.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from daemon.audio import devices
from daemon.audio.convert import ToDevice
from daemon.audio.watchdog import StallWatchdog

_LOG = logging.getLogger(__name__)


class AudioLike(Protocol):  # read-only: a frozen daemon.speech.common.Audio fits
    @property
    def rate(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def channels(self) -> int: ...
    @property
    def data(self) -> bytes: ...


@dataclass
class _Item:
    generation: int
    frames: np.ndarray | None  # None: end-of-turn marker
    notify: bool = True  # False for earcons: no on_start/on_end
    pos: int = 0


class Playback:
    """Turn-aware audio output. Construct, ``await start()``, then ``put``/``end``/``flush``."""

    def __init__(self, device: str | None, on_start: Callable[[int], None] | None = None,
                 on_end: Callable[[int, bool], None] | None = None,
                 on_error: Callable[[Exception], None] | None = None, *,
                 max_buffer: float = 5.0, block_seconds: float = 0.02, latency: float = 0.1,
                 stall_timeout: float = 2.0, sd: Any = None) -> None:
        self.device_name = device
        self._on_start, self._on_end, self._on_error = on_start, on_end, on_error
        # latency: the device buffer. 100 ms survives a loaded CPU without underruns (gaps in
        # the voice) and still bounds how long audio goes on after a barge-in flush.
        self.max_buffer, self.block_seconds, self.latency = max_buffer, block_seconds, latency
        self._sd = sd
        self._lock = threading.Lock()  # guards _queue, _queued, _floor, _started
        self._queue: collections.deque[_Item] = collections.deque()
        self._queued = 0  # frames waiting, at the device rate
        self._floor = 0  # oldest generation still allowed to play
        self._started: set[int] = set()
        self._convs: dict[tuple[int, int], ToDevice] = {}
        self._pending_end: dict[int, asyncio.TimerHandle] = {}
        self._space = asyncio.Event()
        self._watchdog = StallWatchdog(stall_timeout, self._stalled)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: Any = None
        self.rate = 0
        self.channels = 1
        self.device: devices.Device | None = None

    @property
    def floor(self) -> int:
        """The oldest generation whose audio is still played (older ones are dropped)."""
        return self._floor

    @property
    def is_open(self) -> bool:
        return self._stream is not None

    @property
    def queued_seconds(self) -> float:
        return self._queued / self.rate if self.rate else 0.0

    async def start(self) -> None:
        """Open the output stream (kept open: the first reply plays without an open delay).

        Raises :class:`~daemon.audio.devices.AudioError` naming the device and what to do.
        """
        self._loop = asyncio.get_running_loop()
        sd = self._sd or devices.load_sounddevice()
        dev = devices.resolve(self.device_name, "output", sd)
        self._stream = await asyncio.to_thread(self._make_stream, sd, dev)
        self.device, self.rate = dev, dev.samplerate
        self._watchdog.start(self._loop)
        _LOG.info("playback opened: %s at %d Hz, %d ch", dev.label, self.rate, self.channels)

    async def stop(self) -> None:
        stream, self._stream = self._stream, None
        self._watchdog.stop()
        if stream is not None:
            await asyncio.to_thread(_close_quietly, stream)

    async def reopen(self) -> None:
        """Close and open again by name (after the device vanished); queued audio is kept."""
        await self.stop()
        await self.start()

    async def put(self, generation: int, pcm: bytes, rate: int, width: int = 2, channels: int = 1) -> bool:
        """Queue PCM of a turn (s16 mono unless told); waits while the buffer is full. False if stale."""
        if not self.rate:
            raise RuntimeError("Playback.put() before start(): open the output stream first")
        while self._queued >= self.max_buffer * self.rate and generation >= self._floor:
            self._space.clear()
            await self._space.wait()
        if not self._admit(generation):
            return False
        conv = self._convs.get((generation, rate))
        if conv is None:
            conv = self._convs[(generation, rate)] = ToDevice(rate, self.rate, self.channels)
        self._enqueue(_Item(generation, conv.process(pcm, width, channels)))
        return True

    async def play(self, generation: int, audio: AudioLike) -> None:
        """:meth:`put` for a Wyoming-style chunk (``.rate .width .channels .data``)."""
        await self.put(generation, audio.data, audio.rate, audio.width, audio.channels)

    def end(self, generation: int) -> None:
        """No more audio for this turn: ``on_end`` fires once its last sample has played."""
        if not self._admit(generation):
            return
        for key in [k for k in self._convs if k[0] == generation]:
            self._enqueue(_Item(generation, self._convs.pop(key).flush()))
        self._enqueue(_Item(generation, None))

    finish = end  # the name the assistant's Speaker protocol uses

    def clip(self, pcm: bytes, rate: int) -> None:
        """Queue a short sound (earcon) behind the current turn's audio, without edges."""
        frames = ToDevice(rate, self.rate, self.channels)
        audio = np.concatenate((frames.process(pcm), frames.flush()))
        self._enqueue(_Item(self._floor, audio, notify=False))

    def flush(self, generation: int) -> None:
        """Drop the audio of turn ``generation`` and all older turns now (barge-in)."""
        self._raise_floor(generation + 1)

    def _raise_floor(self, floor: int) -> None:
        with self._lock:
            self._floor = max(self._floor, floor)
            self._drop_stale_locked()
        self._convs = {k: v for k, v in self._convs.items() if k[0] >= self._floor}
        self._space.set()
        for gen in [g for g in self._started_or_pending() if g < self._floor]:
            self._finish(gen, interrupted=True)

    # -- loop side helpers --

    def _admit(self, generation: int) -> bool:
        if generation < self._floor:
            return False
        if generation > self._floor:
            self._raise_floor(generation)  # a newer turn supersedes whatever is still queued
        return True

    def _enqueue(self, item: _Item) -> None:
        with self._lock:
            self._queue.append(item)
            self._queued += 0 if item.frames is None else len(item.frames)

    def _drop_stale_locked(self) -> None:
        keep = [i for i in self._queue if i.generation >= self._floor]
        self._queue = collections.deque(keep)
        self._queued = sum(len(i.frames) - i.pos for i in keep if i.frames is not None)

    def _started_or_pending(self) -> set[int]:
        with self._lock:
            return set(self._started) | set(self._pending_end)

    def _finish(self, generation: int, interrupted: bool) -> None:
        timer = self._pending_end.pop(generation, None)
        if timer:
            timer.cancel()
        with self._lock:
            was_started = generation in self._started
            self._started.discard(generation)
        if (was_started or timer) and self._on_end:
            self._on_end(generation, interrupted)

    def _edges(self, events: list[tuple[str, int, float]]) -> None:
        """Loop side of the callback's notifications."""
        self._space.set()
        for kind, gen, delay in events:
            if gen < self._floor:
                continue  # flushed meanwhile: flush() already reported the end
            if kind == "start" and self._on_start:
                self._on_start(gen)
            elif kind == "end" and gen not in self._pending_end:
                assert self._loop is not None
                self._pending_end[gen] = self._loop.call_later(delay, self._finish, gen, False)

    # -- PortAudio thread --

    def _make_stream(self, sd: Any, dev: devices.Device) -> Any:
        stream, self.channels = devices.open_stream(
            sd, "output", dev, latency=self.latency, blocksize=int(dev.samplerate * self.block_seconds),
            callback=self._callback, finished_callback=self._finished_callback)
        return stream

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        self._watchdog.kick()
        events: list[tuple[str, int, float]] = []
        with self._lock:
            filled = self._fill_locked(outdata, frames, events)
        outdata[filled:] = 0
        if events or filled:
            latency = _output_delay(time_info, self._stream)
            events = [(k, g, latency + d / max(self.rate, 1)) for k, g, d in events]
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self._edges, events)

    def _fill_locked(self, outdata: np.ndarray, frames: int, events: list) -> int:
        filled = 0
        while self._queue and filled < frames:
            item = self._queue[0]
            if item.frames is None:
                self._queue.popleft()
                events.append(("end", item.generation, filled))
                continue
            if item.notify and item.generation not in self._started:
                self._started.add(item.generation)
                events.append(("start", item.generation, filled))
            n = min(frames - filled, len(item.frames) - item.pos)
            outdata[filled:filled + n] = item.frames[item.pos:item.pos + n]
            item.pos += n
            filled += n
            self._queued -= n
            if item.pos >= len(item.frames):
                self._queue.popleft()
        return filled

    def _finished_callback(self) -> None:
        loop, stream = self._loop, self._stream
        if stream is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._stream_died, stream)

    def _stream_died(self, stream: Any) -> None:
        if stream is self._stream:
            self._watchdog.stop()  # a dead stream: one report is enough
            self._report("ended unexpectedly (device unplugged or sound server restarted)")

    def _stalled(self, silent: float) -> None:
        self._report(f"stopped taking audio {silent:.1f} s ago (device removed or suspended)")

    def _report(self, what: str) -> None:
        label = self.device.label if self.device else repr(self.device_name)
        _LOG.warning("playback: the output stream on %s %s", label, what)
        if self._on_error:
            self._on_error(devices.AudioError(
                f"the output stream on {label} {what}; check the output device, then reopen it"))


def _output_delay(time_info: Any, stream: Any) -> float:
    """Seconds from now until this buffer reaches the speaker."""
    try:
        delay = float(time_info.outputBufferDacTime - time_info.currentTime)
    except (AttributeError, TypeError):
        delay = 0.0
    if not 0.0 < delay < 2.0:  # ALSA's pulse plugin often reports zeros: use the stream's figure
        delay = float(getattr(stream, "latency", 0.0) or 0.0)
    return delay


def _close_quietly(stream: Any) -> None:
    try:
        stream.abort()
        stream.close()
    except Exception as exc:  # a vanished device: nothing left to release
        _LOG.debug("closing output stream: %s", exc)
