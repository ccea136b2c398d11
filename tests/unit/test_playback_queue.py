"""Playback's generation/flush/edge logic, driven through a fake sounddevice module.

The fake stream is the real interface's shape (callback(outdata, frames, time_info, status));
the test plays the device by calling the callback itself, so timing is deterministic.
"""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import numpy as np
import pytest

from daemon.audio.playback import Playback

RATE = 16000
BLOCK = 320  # 20 ms


class FakeSd:
    """Just enough of sounddevice for Playback: one 16 kHz mono default output."""

    class PortAudioError(Exception):
        pass

    def __init__(self) -> None:
        self.streams: list[FakeStream] = []

    def query_devices(self, kind: str | None = None):
        dev = {"name": "Fake Out", "hostapi": 0, "max_input_channels": 0,
               "max_output_channels": 2, "default_samplerate": RATE}
        return dev if kind else [dev]

    def query_hostapis(self, index: int | None = None):
        api = {"name": "FakeAPI"}
        return api if index is not None else [api]

    def OutputStream(self, **kwargs):  # noqa: N802 (sounddevice's name)
        stream = FakeStream(**kwargs)
        self.streams.append(stream)
        return stream


class FakeStream:
    latency = 0.0

    def __init__(self, callback, channels, samplerate, **_kw) -> None:
        self.callback, self.channels, self.samplerate = callback, channels, samplerate
        self.closed = False

    def start(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def pull(self, frames: int = BLOCK) -> np.ndarray:
        out = np.full((frames, self.channels), 9.0, dtype=np.float32)  # garbage must be overwritten
        self.callback(out, frames, SimpleNamespace(outputBufferDacTime=0.0, currentTime=0.0), None)
        return out[:, 0]


def _pcm(value: float, n: int) -> bytes:
    return (np.full(n, value * 32767)).astype("<i2").tobytes()


@pytest.fixture
async def player():
    sd = FakeSd()
    edges: list[tuple] = []
    p = Playback("default", on_start=lambda g: edges.append(("start", g)),
                 on_end=lambda g, i: edges.append(("end", g, i)), sd=sd, max_buffer=0.1)
    await p.start()
    p.edges = edges
    p.stream = sd.streams[0]
    yield p
    await p.stop()


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_plays_chunks_in_order_with_edges(player) -> None:
    assert await player.put(1, _pcm(0.25, 200), RATE)
    assert await player.put(1, _pcm(0.5, 200), RATE)
    player.end(1)
    out = player.stream.pull()
    assert out[:200] == pytest.approx(0.25, abs=1e-4)
    assert out[200:320] == pytest.approx(0.5, abs=1e-4)
    await _settle()
    assert player.edges == [("start", 1)]
    out = player.stream.pull()
    assert out[:80] == pytest.approx(0.5, abs=1e-4) and not out[80:].any()
    await asyncio.sleep(0.02)  # end fires after the last sample has played (latency 0 here)
    assert player.edges == [("start", 1), ("end", 1, False)]


async def test_flush_drops_queued_audio_at_once(player) -> None:
    await player.put(1, _pcm(0.5, 1000), RATE)
    player.stream.pull()
    await _settle()
    player.flush(1)  # barge-in: turn 1 is cancelled
    assert not player.stream.pull().any()  # the very next device block is silence
    assert player.queued_seconds == 0
    assert player.edges == [("start", 1), ("end", 1, True)]


async def test_stale_chunks_are_dropped(player) -> None:
    player.flush(3)
    assert not await player.put(2, _pcm(0.5, 100), RATE)
    assert not await player.put(3, _pcm(0.5, 100), RATE)  # the flushed turn's late chunk
    player.end(3)
    assert not player.stream.pull().any()
    await _settle()
    assert player.edges == []
    assert await player.put(4, _pcm(0.5, 100), RATE)  # the next turn plays


async def test_newer_generation_supersedes_older_queue(player) -> None:
    await player.put(1, _pcm(0.25, 300), RATE)
    await player.put(2, _pcm(0.5, 300), RATE)
    out = player.stream.pull()
    assert out[:300] == pytest.approx(0.5, abs=1e-4)
    await _settle()
    assert player.edges == [("start", 2)]


async def test_put_waits_while_buffer_is_full_then_resumes(player) -> None:
    await player.put(1, _pcm(0.1, 1600), RATE)  # 0.1 s: the buffer is full
    waiter = asyncio.create_task(player.put(1, _pcm(0.2, 10), RATE))
    await _settle()
    assert not waiter.done()
    player.stream.pull()
    await _settle()
    assert await asyncio.wait_for(waiter, 1)


async def test_flush_releases_a_blocked_stale_put(player) -> None:
    await player.put(1, _pcm(0.1, 1600), RATE)
    waiter = asyncio.create_task(player.put(1, _pcm(0.2, 10), RATE))
    await _settle()
    player.flush(1)
    assert await asyncio.wait_for(waiter, 1) is False


async def test_clip_plays_without_edges_and_resamples(player) -> None:
    player.clip(_pcm(0.5, 480), 24000)  # 20 ms at 24 kHz -> 320 frames at 16 kHz
    out = player.stream.pull()
    assert np.abs(out[20:300] - 0.5).max() < 0.02
    await _settle()
    assert player.edges == []
    assert player.queued_seconds == pytest.approx(0, abs=1e-3)


async def test_unknown_device_error_lists_devices() -> None:
    p = Playback("Headset", sd=FakeSd())
    with pytest.raises(LookupError, match=r"no output device named 'Headset'.*'Fake Out'"):
        await p.start()


def test_earcons_are_short_quiet_and_distinct() -> None:
    from daemon.audio.earcons import earcon

    start, stop = (np.frombuffer(earcon(n, RATE), "<i2") for n in ("start", "stop"))
    assert start.size == stop.size == int(0.12 * RATE)
    assert 0.2 < np.abs(start).max() / 32767 < 0.3  # -12 dBFS peak
    assert abs(int(start[0])) < 50 and abs(int(start[-1])) < 50  # faded: no click
    assert not np.array_equal(start, stop)
    with pytest.raises(ValueError, match="unknown earcon 'beep'"):
        earcon("beep")  # type: ignore[arg-type]


async def test_stalled_device_is_reported_once_per_stall() -> None:
    errors: list[Exception] = []
    p = Playback("default", on_error=errors.append, stall_timeout=0.1, sd=FakeSd())
    await p.start()
    try:
        await asyncio.sleep(0.3)  # the fake device never calls back: a stall
        assert len(errors) == 1 and "stopped taking audio" in str(errors[0])
        assert "'Fake Out (FakeAPI)'" not in str(errors[0]) and "Fake Out (FakeAPI)" in str(errors[0])
        for _ in range(4):  # it recovers ...
            p._stream.pull()
            await asyncio.sleep(0.04)
        await asyncio.sleep(0.3)  # ... and stalls again: news again
        assert len(errors) == 2
    finally:
        await p.stop()


async def test_put_before_start_says_so() -> None:
    with pytest.raises(RuntimeError, match=r"before start\(\)"):
        await Playback("default", sd=FakeSd()).put(1, b"\0\0", RATE)


class StereoOnlySd(FakeSd):
    """A device that refuses mono, like some ALSA hw devices; ``refuse_all`` refuses everything."""

    refuse_all = False

    def OutputStream(self, **kwargs):  # noqa: N802
        if kwargs["channels"] == 1 or self.refuse_all:
            raise self.PortAudioError(f"Invalid number of channels [{kwargs['channels']}]")
        return super().OutputStream(**kwargs)


async def test_mono_refused_falls_back_to_stereo_frames() -> None:
    sd = StereoOnlySd()
    p = Playback("default", sd=sd)
    await p.start()
    try:
        assert p.channels == 2
        await p.put(1, _pcm(0.5, 320), RATE)
        out = np.zeros((BLOCK, 2), np.float32)
        sd.streams[0].callback(out, BLOCK, SimpleNamespace(outputBufferDacTime=0, currentTime=0), None)
        assert out == pytest.approx(0.5, abs=1e-4)
    finally:
        await p.stop()


async def test_unopenable_device_error_names_it() -> None:
    sd = StereoOnlySd()
    sd.refuse_all = True
    with pytest.raises(RuntimeError, match=r"cannot open output device Fake Out \(FakeAPI\).*channels \[2\]"):
        await Playback("Fake Out", sd=sd).start()


async def test_play_takes_wyoming_style_chunks_of_any_format(player) -> None:
    stereo_s32 = (np.full((160, 2), 0.5 * 2**31)).astype("<i4").tobytes()
    await player.play(1, SimpleNamespace(rate=RATE, width=4, channels=2, data=stereo_s32))
    player.finish(1)
    out = player.stream.pull()
    assert out[:160] == pytest.approx(0.5, abs=1e-4) and not out[160:].any()
