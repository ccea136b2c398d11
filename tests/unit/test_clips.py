"""engines.protocol.clips: the one rule for reference clips, shared by the daemon's recordings and the TTS engine."""
from __future__ import annotations

import numpy as np
import pytest

from daemon.assistant.voices import check_recording
from engines.protocol import clips

RATE = 16000


def tone(seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


@pytest.mark.parametrize("audio, words", [
    (tone(2.9), "2.9 s long; it needs at least 3 s"),
    (tone(30.5), "30.5 s long; keep it under 30 s"),
    (tone(5.0, level=0.005), "almost silent (-49 dBFS)"),  # RMS of a 0.005 sine: -49 dBFS
    (np.zeros(5 * RATE, dtype=np.float32), "almost silent"),
    (np.clip(tone(5.0, level=3.0), -1, 1), "clipped"),
    (np.where(np.arange(5 * RATE) == 7, np.nan, tone(5.0)), "not numbers"),
])
def test_an_unusable_clip_is_named_with_what_to_do(audio, words):
    assert words in clips.problem(audio, RATE)


@pytest.mark.parametrize("audio", [tone(3.0), tone(30.0), tone(5.0, level=0.01), tone(5.0, level=0.99)])
def test_the_limits_themselves_are_usable(audio):
    assert clips.problem(audio, RATE) == ""  # 3 s and 30 s exactly; a quiet -43 dBFS voice; loud, not clipped


def test_a_few_full_scale_samples_are_not_clipping():
    audio = tone(10.0)
    audio[:: RATE // 10] = 1.0  # 10 per second: 0.06 % of the samples
    assert clips.problem(audio, RATE) == ""
    audio[:: RATE // 40] = 1.0  # 40 per second: 0.25 %
    assert "clipped" in clips.problem(audio, RATE)


def test_the_daemon_and_the_engine_refuse_the_same_clips():
    from engines.tts import reference
    from engines.protocol.errors import EngineError

    for audio in (tone(2.0), tone(5.0, level=0.004), np.clip(tone(5.0, level=2.0), -1, 1), tone(5.0)):
        pcm = np.clip(np.rint(audio * 32768), -32768, 32767).astype("<i2").tobytes()
        daemon_says = check_recording(pcm, RATE)
        try:
            reference.from_pcm(pcm, RATE, 2, 1)
            engine_says = ""
        except EngineError as exc:
            engine_says = exc.text
        assert daemon_says == engine_says
