"""Short listening earcons, synthesised with numpy at start-up (no asset files to find or ship).

Start-listening rises (two soft notes a fifth apart), stop-listening falls, so the two are
told apart without looking. Each is ~120 ms with raised-cosine edges (no click) and a
modest level (-12 dBFS peak) so it never drowns speech or startles. They are played through
:meth:`daemon.audio.playback.Playback.clip`, queued in order with the turn's audio.
"""
from __future__ import annotations

import io
import wave
from typing import Any, Literal

import numpy as np

EARCON_RATE = 24_000
Name = Literal["start", "stop", "error", "working"]
_NOTES: dict[str, tuple[float, ...]] = {
    "start": (660.0, 990.0),  # rising fifth
    "stop": (990.0, 660.0),  # falling fifth
    "error": (440.0, 415.3),  # a falling semitone, lower: something went wrong
    "working": (784.0, 784.0),  # two soft taps on one note: a tool is still running
}


def _note(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    tone = np.sin(2 * np.pi * freq * t) + 0.2 * np.sin(4 * np.pi * freq * t)  # a little warmth
    fade = min(int(0.012 * rate), t.size // 2)
    env = np.ones(t.size)
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
    env[:fade], env[t.size - fade:] = ramp, ramp[::-1]
    return tone * env


def earcon(name: Name, rate: int = EARCON_RATE, gain_db: float = -12.0) -> bytes:
    """The earcon ``name`` as s16le mono PCM at ``rate``."""
    if name not in _NOTES:
        raise ValueError(f"unknown earcon {name!r}: use one of {', '.join(_NOTES)}")
    notes = [_note(f, 0.06, rate) for f in _NOTES[name]]
    signal = np.concatenate(notes)
    signal *= 10 ** (gain_db / 20) / np.max(np.abs(signal))
    return np.round(signal * 32767).astype("<i2").tobytes()


def earcon_wav(name: Name, rate: int = EARCON_RATE) -> bytes:
    """The earcon as a WAV file (for `sisyphus` tooling or a desktop's own sound settings)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(earcon(name, rate))
    return buf.getvalue()


def play_earcon(playback: Any, name: Name) -> None:
    """Queue earcon ``name`` on a started :class:`~daemon.audio.playback.Playback`."""
    playback.clip(earcon(name), EARCON_RATE)
