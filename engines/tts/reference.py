"""Reference audio for cloned voices: decoding and validation.

A bad reference makes a bad voice forever, so it is refused up front with a reason
the user can act on (code ``bad_voice``): wrong format or rate, too big, and what
``engines.protocol.clips`` refuses (too short or too long, silent, clipped) by the
same rule the daemon checks its recordings with.
"""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from engines.protocol import clips
from engines.protocol.errors import BAD_VOICE, EngineError
from engines.protocol.pcm import pcm_to_mono

MIN_RATE, MAX_RATE = 8000, 48000
MAX_BYTES = int(clips.MAX_SECONDS * MAX_RATE * 2 * 2) + 4096  # 30 s of 48 kHz s16 stereo
CONVERT_HINT = "convert it with: ffmpeg -i IN -ac 1 -ar 24000 -sample_fmt s16 OUT.wav"


def bad(text: str) -> EngineError:
    return EngineError(text, BAD_VOICE)


def from_pcm(payload: bytes | None, rate: int, width: int, channels: int) -> np.ndarray:
    """s16le interleaved PCM (a Wyoming payload) to float32 mono, validated."""
    if not payload:
        raise bad("x-voice-add carries no audio payload; send the reference as s16le PCM in the payload")
    if len(payload) > MAX_BYTES:
        raise bad(f"reference audio is {len(payload)} bytes; the limit is {MAX_BYTES} (30 s of 48 kHz stereo)")
    if width != 2:
        raise bad(f"reference audio must be 16-bit PCM (width 2), got width {width}")
    if channels not in (1, 2):
        raise bad(f"reference audio must be mono or stereo, got {channels} channels")
    if len(payload) % (width * channels):
        raise bad("reference audio payload is not a whole number of frames; is width/channels right?")
    return validate(pcm_to_mono(payload, width, channels), rate)


def validate(audio: np.ndarray, rate: int) -> np.ndarray:
    """Check rate, length and level of mono float audio; return it unchanged."""
    if not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
        raise bad(f"reference sample rate {rate!r} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    problem = clips.problem(audio, rate)
    if problem:
        raise bad(problem)
    return audio


def read_file(path: Path) -> tuple[np.ndarray, int]:
    """Read an audio file to float32 mono (any format soundfile knows, else PCM WAV)."""
    if not path.is_file():
        raise bad(f"reference audio file {path} does not exist")
    if path.stat().st_size > MAX_BYTES * 2:
        raise bad(f"{path} is {path.stat().st_size} bytes; a 3-30 s reference is far smaller")
    try:
        import soundfile
    except ImportError:
        return _read_wav(path)
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises its own LibsndfileError and RuntimeError
        raise bad(f"cannot read {path} as audio ({exc}); {CONVERT_HINT}") from None
    return data.mean(axis=1), int(rate)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise bad(f"{path} is not a PCM WAV file ({exc}); {CONVERT_HINT}") from None
    if width != 2:
        raise bad(f"{path} is {8 * width}-bit; {CONVERT_HINT}")
    return pcm_to_mono(raw, width, channels), rate


def write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    """Mono s16 WAV (what the voices dir keeps: readable by every tool)."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
