"""Microphone capture: a sounddevice InputStream delivering 16 kHz mono s16 to the asyncio loop.

Threading: the PortAudio callback only copies the block and hands it to the loop with
``call_soon_threadsafe``; conversion, the pre-roll ring, level metering and error handling
all run on the loop, so none of this code needs a lock.

Open while idle, or open on press (``keep_open``):
- ``keep_open=True`` (default): the stream runs while the daemon is idle and the last
  ``preroll`` seconds (300 ms) are kept in memory only, overwritten continuously, never sent
  anywhere. When the key goes down that pre-roll is sent first, so the first syllable is not
  cut even if the user starts talking as they press. Cost: the desktop's "microphone in use"
  indicator stays on while the daemon runs, and some laptops keep the mic LED lit.
- ``keep_open=False``: the stream is opened on press and closed on release: nothing is heard
  while idle, but opening takes ~50-300 ms (PulseAudio/ALSA), and speech in that gap is lost.

Faults: an abnormal stream finish (device unplugged, server gone) or no audio for
``stall_timeout`` seconds while open is reported once through ``on_error``; the owner then
calls :meth:`reopen` (which resolves the device name again) when it sees fit.
"""
from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any, Callable

import numpy as np

from daemon.audio import devices
from daemon.audio.convert import ASR_RATE, ToAsr, level
from daemon.audio.watchdog import StallWatchdog

_LOG = logging.getLogger(__name__)


class Capture:
    """Microphone -> 16 kHz mono s16le bytes, delivered on the asyncio loop.

    ``on_block(pcm)`` receives audio only between :meth:`begin` and :meth:`end`;
    ``on_level(x)`` gets a 0..1 loudness while active; ``on_error(exc)`` gets an
    :class:`~daemon.audio.devices.AudioError` when the device fails.
    """

    def __init__(self, device: str | None, on_block: Callable[[bytes], None],
                 on_level: Callable[[float], None] | None = None,
                 on_error: Callable[[Exception], None] | None = None, *,
                 keep_open: bool = True, preroll: float = 0.3, block_seconds: float = 0.02,
                 latency: float = 0.1, stall_timeout: float = 2.0, sd: Any = None) -> None:
        self.device_name = device
        self._on_block, self._on_level, self._on_error = on_block, on_level, on_error
        # latency: PortAudio's input buffer. 100 ms rides out a busy CPU without overruns
        # (lost audio); it adds no delay that matters, since the ASR sees audio in blocks anyway.
        self.keep_open, self.block_seconds, self.latency = keep_open, block_seconds, latency
        self.overflows = 0  # blocks PortAudio reported lost (the loop or the CPU fell behind)
        self._preroll_samples = int(preroll * ASR_RATE)
        self._sd = sd
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: Any = None
        self._conv: ToAsr | None = None
        self._ring: collections.deque[np.ndarray] = collections.deque()
        self._ring_len = 0
        self._active = False
        self._watchdog = StallWatchdog(stall_timeout, self._stalled)
        self.device: devices.Device | None = None  # what is open now

    @property
    def active(self) -> bool:
        return self._active

    @property
    def is_open(self) -> bool:
        return self._stream is not None

    async def start(self) -> None:
        """Bind to the running loop; with ``keep_open`` also open the stream now.

        Raises :class:`~daemon.audio.devices.AudioError` (or its ``DeviceNotFound``) with
        the device name and what to do.
        """
        self._loop = asyncio.get_running_loop()
        if self.keep_open:
            await self._open()

    async def begin(self) -> None:
        """Start delivering audio (key down): the pre-roll first, then live blocks."""
        if self._stream is None:
            await self._open()
        self._active = True
        if self._ring_len:
            self._on_block(np.concatenate(list(self._ring)).tobytes())
        self._clear_ring()

    async def end(self) -> None:
        """Stop delivering audio (key up); closes the stream unless ``keep_open``."""
        self._active = False
        if not self.keep_open:
            await self._close()

    async def reopen(self) -> None:
        """Close and open again, resolving the device name anew (after a device fault)."""
        await self._close()
        if self.keep_open or self._active:
            await self._open()

    async def stop(self) -> None:
        self._active = False
        await self._close()

    # -- stream lifecycle (blocking PortAudio calls run in a worker thread) --

    async def _open(self) -> None:
        assert self._loop is not None, "call start() first"
        sd = self._sd or devices.load_sounddevice()
        dev = devices.resolve(self.device_name, "input", sd)
        stream = await asyncio.to_thread(self._make_stream, sd, dev)
        self._stream, self.device = stream, dev
        self._conv = ToAsr(dev.samplerate)
        self._clear_ring()
        self._watchdog.start(self._loop)
        _LOG.info("capture opened: %s at %d Hz", dev.label, dev.samplerate)

    def _make_stream(self, sd: Any, dev: devices.Device) -> Any:
        stream, _channels = devices.open_stream(
            sd, "input", dev, latency=self.latency, blocksize=int(dev.samplerate * self.block_seconds),
            callback=self._callback, finished_callback=self._finished_callback)
        return stream

    async def _close(self) -> None:
        stream, self._stream = self._stream, None
        self._watchdog.stop()
        if stream is not None:
            await asyncio.to_thread(_close_quietly, stream)

    # -- PortAudio thread: copy and hand off, nothing else --

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        self._watchdog.kick()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._deliver, indata.copy(), bool(status.input_overflow))

    def _finished_callback(self) -> None:
        loop, stream = self._loop, self._stream
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._finished, stream)

    # -- loop thread --

    def _deliver(self, block: np.ndarray, overflow: bool) -> None:
        if self._conv is None or self._stream is None:
            return  # a late block from a stream being closed
        if overflow:
            self.overflows += 1
            _LOG.debug("capture overflow: audio was lost (%d so far)", self.overflows)
        pcm = self._conv.process(block)
        if self._active:
            self._on_block(pcm.tobytes())
            if self._on_level:
                self._on_level(level(pcm))
        else:
            self._push_ring(pcm)

    def _push_ring(self, pcm: np.ndarray) -> None:
        self._ring.append(pcm)
        self._ring_len += pcm.size
        while self._ring and self._ring_len - self._ring[0].size >= self._preroll_samples:
            self._ring_len -= self._ring.popleft().size

    def _clear_ring(self) -> None:
        self._ring.clear()
        self._ring_len = 0

    def _finished(self, stream: Any) -> None:
        if stream is not None and stream is self._stream:  # we did not close it: abnormal
            self._watchdog.stop()  # a dead stream: one report is enough
            self._report(f"the input stream on {self._label()} ended unexpectedly "
                         "(device unplugged or sound server restarted)")

    def _stalled(self, silent: float) -> None:
        self._report(f"no audio from {self._label()} for {silent:.1f} s "
                     "(device removed, suspended or muted by the system)")

    def _report(self, text: str) -> None:
        _LOG.warning("capture: %s", text)
        if self._on_error:
            self._on_error(devices.AudioError(f"{text}; check the input device, then reopen it"))

    def _label(self) -> str:
        return self.device.label if self.device else repr(self.device_name)


def _close_quietly(stream: Any) -> None:
    """Close a stream that may already be dead; a dead device must not stop the close."""
    try:
        stream.abort()
        stream.close()
    except Exception as exc:  # PortAudioError on a vanished device: nothing left to release
        _LOG.debug("closing input stream: %s", exc)
