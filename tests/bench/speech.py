"""Speech for the benchmarks: espeak-ng sentences with pauses, at 16 kHz (numpy only; no torch).

A GPU machine has no espeak-ng: ``tests/bench/gpu_wheels.sh`` writes the sentences here as a
WAV (``python tests/bench/speech.py OUT.wav``) that travels with the wheels, and the
benchmarks read it (``SISYPHUS_SPEECH_WAV``), so live segmentation and the VAD run there too.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import wave

import numpy as np

SENTENCES = ["turn on the kitchen lights", "what is the weather like tomorrow in Berlin",
             "set a timer for ten minutes and remind me to call my mother"]


def _read_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as reader:
        audio = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").astype(np.float32) / 32768
        return audio, reader.getframerate()


def unit() -> np.ndarray | None:
    """One pass over the sentences with 0.4 s pauses at 16 kHz (the carried WAV, else espeak-ng; None: neither)."""
    carried = os.environ.get("SISYPHUS_SPEECH_WAV")
    if carried and os.path.isfile(carried):
        with open(carried, "rb") as f:
            return _read_wav(f.read())[0]
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return None
    parts = []
    for text in SENTENCES:
        audio, rate = _read_wav(subprocess.run([espeak, "--stdout", text], capture_output=True, check=True).stdout)
        n = int(audio.size * 16000 / rate)
        parts += [np.interp(np.arange(n) * rate / 16000, np.arange(audio.size), audio), np.zeros(6400)]
    return np.concatenate(parts).astype(np.float32)


def speech_16k(seconds: float) -> tuple[np.ndarray, bool]:
    """The sentences tiled to ``seconds`` (True), or noise (False) where there is no speech to be had."""
    one = unit()
    if one is None:
        return (0.05 * np.random.default_rng(0).standard_normal(int(seconds * 16000))).astype(np.float32), False
    return np.tile(one, int(np.ceil(seconds * 16000 / one.size)))[:int(seconds * 16000)], True


if __name__ == "__main__":
    speech = unit()
    if speech is None:
        sys.exit("no espeak-ng here: install it (apt-get install espeak-ng) to write the speech WAV")
    with wave.open(sys.argv[1], "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.clip(speech, -1, 1) * 32767).astype("<i2").tobytes())
    print(f"{speech.size / 16000:.1f} s of speech written to {sys.argv[1]}")
