"""Real PortAudio streams on the harness's PulseAudio null sinks (no fakes).

Mic path: espeak-ng speech is played into ``micsink``; the app's Capture reads the default
source ``vmic`` (micsink's monitor) and must deliver the same speech at 16 kHz.
Speaker path: Playback writes to the default sink ``spk``; ``parec`` records ``spk.monitor``.
"""
from __future__ import annotations

import asyncio
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from daemon.audio import devices
from daemon.audio.capture import Capture
from daemon.audio.convert import convert_to_asr, float_to_s16
from daemon.audio.earcons import play_earcon
from daemon.audio.playback import Playback

pytestmark = pytest.mark.desktop


def _wav_to_16k(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        pcm = convert_to_asr(w.readframes(w.getnframes()), w.getframerate(),
                             w.getsampwidth(), w.getnchannels())
    return np.frombuffer(pcm, "<i2").astype(np.float64)


def _best_xcorr(ref: np.ndarray, rec: np.ndarray) -> float:
    """Peak normalised cross-correlation of ``ref`` anywhere inside ``rec``."""
    if rec.size < ref.size:
        return 0.0
    nfft = 1 << (ref.size + rec.size).bit_length()
    c = np.fft.irfft(np.fft.rfft(rec, nfft) * np.conj(np.fft.rfft(ref, nfft)), nfft)
    c = c[: rec.size - ref.size + 1]
    lag = int(np.argmax(c))
    seg = rec[lag: lag + ref.size]
    return float(np.dot(seg, ref) / (np.linalg.norm(seg) * np.linalg.norm(ref) + 1e-12))


class Recorder:
    """``parec`` on a PulseAudio source, 16 kHz mono s16 (what the speakers really received)."""

    def __init__(self, source: str) -> None:
        self.proc = subprocess.Popen(
            ["parec", "-d", source, "--raw", "--rate", "16000", "--channels", "1",
             "--format", "s16le", "--latency-msec", "20"], stdout=subprocess.PIPE)

    def stop(self) -> np.ndarray:
        self.proc.terminate()
        data, _ = self.proc.communicate(timeout=5)
        return np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.float64)


def test_devices_are_listed_and_resolved_by_name() -> None:
    names = [d.name for d in devices.list_devices("input")]
    assert "pulse" in names
    assert devices.resolve("PULSE", "input").name == "pulse"  # case-insensitive exact
    assert devices.resolve("System default", "output").index is None  # follows the system
    assert devices.resolve("puls", "output").name == "pulse"  # unique substring
    with pytest.raises(devices.DeviceNotFound, match=r"ambiguous.*'default', 'pulse'"):
        devices.resolve("e", "input")
    with pytest.raises(devices.DeviceNotFound, match=r"no input device named 'USB Headset'.*'pulse'"):
        devices.resolve("USB Headset", "input")


@pytest.mark.parametrize("keep_open", [True, False], ids=["open-while-idle", "open-on-press"])
async def test_capture_delivers_played_speech_at_16k(speech_wav: Path, keep_open: bool) -> None:
    blocks: list[bytes] = []
    levels: list[float] = []
    cap = Capture("default", blocks.append, levels.append, keep_open=keep_open)
    await cap.start()
    try:
        await cap.begin()
        proc = await asyncio.create_subprocess_exec("paplay", "--device=micsink", str(speech_wav))
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        await asyncio.sleep(0.4)  # the tail is still in flight through the monitor
        await cap.end()
        assert cap.is_open == keep_open
    finally:
        await cap.stop()
    got = np.frombuffer(b"".join(blocks), "<i2").astype(np.float64)
    ref = _wav_to_16k(speech_wav)
    assert got.size >= ref.size
    assert _best_xcorr(ref, got) > 0.9
    assert max(levels) > 0.5  # speech moves the meter


async def test_preroll_keeps_sound_from_before_the_key_press(tmp_path: Path) -> None:
    blocks: list[bytes] = []
    cap = Capture("default", blocks.append, preroll=0.3)
    await cap.start()
    try:
        await asyncio.sleep(0.3)  # idle: the ring fills with silence
        tone = float_to_s16(0.5 * np.sin(2 * np.pi * 800 * np.arange(1600) / 16000))  # 100 ms
        proc = await asyncio.create_subprocess_exec(
            "pacat", "--playback", "-d", "micsink", "--raw", "--rate", "16000", "--channels", "1",
            "--format", "s16le", stdin=asyncio.subprocess.PIPE)
        await proc.communicate(tone.tobytes())
        await asyncio.sleep(0.05)
        await cap.begin()  # the key goes down just after the "first syllable"
        first = np.frombuffer(blocks[0], "<i2").astype(np.float64)
    finally:
        await cap.stop()
    assert 0.25 * 16000 <= first.size <= 0.35 * 16000
    assert np.abs(first).max() > 0.3 * 32768


async def test_capture_reports_a_stalled_device_and_reopens() -> None:
    blocks: list[bytes] = []
    errors: list[Exception] = []
    cap = Capture("default", blocks.append, on_error=errors.append, stall_timeout=0.6)
    await cap.start()
    try:
        await cap.begin()
        subprocess.run(["pactl", "suspend-source", "vmic", "1"], check=True, timeout=10)
        for _ in range(40):
            if errors:
                break
            await asyncio.sleep(0.05)
        assert errors and "no audio from" in str(errors[0])
        subprocess.run(["pactl", "suspend-source", "vmic", "0"], check=True, timeout=10)
        await cap.reopen()
        before = len(blocks)
        await asyncio.sleep(0.5)
        assert len(blocks) - before >= 10  # 20 ms blocks flow again
    finally:
        subprocess.run(["pactl", "suspend-source", "vmic", "0"], timeout=10)
        await cap.stop()


def _wav_pcm(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path)) as w:
        return w.readframes(w.getnframes()), w.getframerate()


async def test_playback_reaches_the_speaker_with_edges(speech_wav: Path) -> None:
    edges: list[tuple[str, int, float]] = []
    ended = asyncio.Event()

    def on_end(gen: int, interrupted: bool) -> None:
        edges.append(("end", gen, time.monotonic()))
        ended.set()

    out = Playback("default", on_start=lambda g: edges.append(("start", g, time.monotonic())), on_end=on_end)
    await out.start()
    rec = Recorder("spk.monitor")
    try:
        pcm, rate = _wav_pcm(speech_wav)
        step = int(rate * 0.04) * 2  # 40 ms chunks, as a TTS engine sends them
        for i in range(0, len(pcm), step):
            assert await out.put(1, pcm[i:i + step], rate)
        out.end(1)
        await asyncio.wait_for(ended.wait(), 10)
        await asyncio.sleep(0.3)
    finally:
        got = rec.stop()
        await out.stop()
    ref = _wav_to_16k(speech_wav)
    assert _best_xcorr(ref, got) > 0.9
    (k1, g1, t1), (k2, g2, t2) = edges
    assert (k1, g1, k2, g2) == ("start", 1, "end", 1)
    assert t2 - t1 == pytest.approx(ref.size / 16000, abs=0.3)  # on_end waits for the audio to play


async def test_flush_stops_the_speaker_promptly() -> None:
    started = asyncio.Event()
    out = Playback("default", on_start=lambda g: started.set())
    await out.start()
    rec = Recorder("spk.monitor")
    try:
        await asyncio.sleep(0.2)
        tone = float_to_s16(0.5 * np.sin(2 * np.pi * 600 * np.arange(16000 * 3) / 16000)).tobytes()
        put = asyncio.create_task(out.put(1, tone, 16000))
        await asyncio.wait_for(started.wait(), 5)
        await asyncio.sleep(0.5)
        out.flush(1)  # barge-in after 0.5 s of a 3 s reply
        await put
        await asyncio.sleep(0.8)
    finally:
        got = rec.stop()
        await out.stop()
    loud = np.flatnonzero(np.abs(got) > 0.1 * 32768)
    heard = (loud[-1] - loud[0]) / 16000
    assert 0.4 < heard < 0.8  # 0.5 s played, plus at most ~0.3 s of device latency


async def test_playback_reports_a_suspended_sink_and_reopens() -> None:
    errors: list[Exception] = []
    started = asyncio.Event()
    out = Playback("default", on_start=lambda g: started.set(), on_error=errors.append, stall_timeout=0.6)
    await out.start()
    try:
        subprocess.run(["pactl", "suspend-sink", "spk", "1"], check=True, timeout=10)
        for _ in range(40):
            if errors:
                break
            await asyncio.sleep(0.05)
        assert errors and "stopped taking audio" in str(errors[0])
        subprocess.run(["pactl", "suspend-sink", "spk", "0"], check=True, timeout=10)
        await out.reopen()
        await out.put(1, bytes(3200), 16000)
        await asyncio.wait_for(started.wait(), 2)  # the device takes audio again
    finally:
        subprocess.run(["pactl", "suspend-sink", "spk", "0"], timeout=10)
        await out.stop()


async def test_start_earcon_plays_its_two_rising_notes() -> None:
    out = Playback("default")
    await out.start()
    rec = Recorder("spk.monitor")
    try:
        await asyncio.sleep(0.2)
        play_earcon(out, "start")
        await asyncio.sleep(0.6)
    finally:
        got = rec.stop()
        await out.stop()
    loud = np.flatnonzero(np.abs(got) > 0.05 * 32768)
    assert loud.size, "the earcon never reached the speaker"
    tone = got[loud[0]: loud[0] + int(0.12 * 16000)]
    first, second = tone[: tone.size // 2], tone[tone.size // 2:]

    def peak(x: np.ndarray) -> float:
        return float(np.argmax(np.abs(np.fft.rfft(x * np.hanning(x.size)))) * 16000 / x.size)

    assert peak(first) == pytest.approx(660, abs=30) and peak(second) == pytest.approx(990, abs=30)
