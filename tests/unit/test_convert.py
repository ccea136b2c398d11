"""PCM conversion: formats, resampling quality, and block-split invariance."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.audio.convert import (
    Resampler,
    ToAsr,
    ToDevice,
    convert_to_asr,
    float_to_s16,
    level,
)
from engines.protocol.pcm import pcm_to_float


def _tone(freq: float, rate: int, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def _resample_all(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    r = Resampler(src, dst)
    return np.concatenate((r.process(x), r.flush()))


def _peak_hz_and_db(y: np.ndarray, rate: int, ref_amp: float) -> tuple[float, float]:
    seg = y[rate // 4: -rate // 4]  # skip the edges
    spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size)))
    rms = float(np.sqrt(np.mean(seg.astype(np.float64) ** 2)))
    return float(np.argmax(spec) * rate / seg.size), 20 * np.log10(rms / (ref_amp / np.sqrt(2)) + 1e-15)


@pytest.mark.parametrize("src,dst", [(48000, 16000), (44100, 16000), (22050, 16000),
                                     (16000, 48000), (24000, 44100), (24000, 48000)])
def test_1khz_tone_keeps_its_frequency_and_level(src: int, dst: int) -> None:
    y = _resample_all(_tone(1000, src), src, dst)
    freq, db = _peak_hz_and_db(y, dst, 0.5)
    assert abs(freq - 1000) < 2
    assert abs(db) < 0.1


@pytest.mark.parametrize("src", [48000, 44100, 22050])
def test_content_above_the_new_nyquist_is_removed_not_aliased(src: int) -> None:
    # 8.8 kHz would alias to 7.2 kHz at 16 kHz; a linear interpolator lets most of it through
    y = _resample_all(_tone(8800, src), src, 16000)
    _, db = _peak_hz_and_db(y, 16000, 0.5)
    assert db < -60


def test_output_length_and_alignment() -> None:
    x = np.zeros(48000, dtype=np.float32)
    x[24000] = 1.0  # an impulse at 0.5 s must come out at 0.5 s (zero-phase kernel)
    y = _resample_all(x, 48000, 16000)
    assert y.size == 16000
    assert int(np.argmax(np.abs(y))) == 8000


@settings(max_examples=40, deadline=None)
@given(splits=st.lists(st.integers(0, 900), min_size=1, max_size=30),
       rates=st.sampled_from([(48000, 16000), (44100, 16000), (16000, 24000), (22050, 48000)]))
def test_any_block_split_gives_identical_output(splits: list[int], rates: tuple[int, int]) -> None:
    src, dst = rates
    x = np.random.default_rng(7).standard_normal(sum(splits) + 123).astype(np.float32)
    whole = _resample_all(x, src, dst)
    r, parts, i = Resampler(src, dst), [], 0
    for k in [*splits, x.size]:
        parts.append(r.process(x[i:i + k]))
        i += k
    parts.append(r.flush())
    assert np.array_equal(np.concatenate(parts), whole)


def test_pcm_widths_decode_to_the_same_value() -> None:
    half = {1: bytes([192]), 2: (16384).to_bytes(2, "little", signed=True),
            3: (2**22).to_bytes(3, "little", signed=True), 4: (2**30).to_bytes(4, "little", signed=True)}
    for width, data in half.items():
        assert pcm_to_float(data, width, 1)[0, 0] == pytest.approx(0.5), width
    neg = (-(2**22)).to_bytes(3, "little", signed=True)
    assert pcm_to_float(neg, 3, 1)[0, 0] == pytest.approx(-0.5)


def test_bad_pcm_is_named() -> None:
    with pytest.raises(ValueError, match="width 5"):
        pcm_to_float(b"\0" * 10, 5, 1)
    with pytest.raises(ValueError, match="multiple of the frame size 4"):
        pcm_to_float(b"\0" * 6, 2, 2)
    with pytest.raises(ValueError, match="standard rate"):
        Resampler(48001, 16000)


def test_stereo_48k_s32_to_asr() -> None:
    left = _tone(1000, 48000)
    stereo = np.stack((left, left), axis=1)
    data = (stereo * 2**31 * 0.999).astype("<i4").tobytes()
    out = np.frombuffer(convert_to_asr(data, 48000, 4, 2), dtype="<i2")
    assert out.size == 16000
    freq, db = _peak_hz_and_db(out.astype(np.float32) / 32768, 16000, 0.5)
    assert abs(freq - 1000) < 2 and abs(db) < 0.1


def test_to_asr_accepts_int16_device_blocks() -> None:
    block = float_to_s16(_tone(440, 16000, 0.1))[:, None]
    conv = ToAsr(16000)
    assert np.array_equal(conv.process(block), block[:, 0])


def test_to_device_spreads_channels_at_device_rate() -> None:
    pcm = float_to_s16(_tone(1000, 24000)).tobytes()
    conv = ToDevice(24000, 48000, channels=2)
    out = np.concatenate((conv.process(pcm), conv.flush()))
    assert out.shape == (48000, 2) and out.dtype == np.float32
    assert np.array_equal(out[:, 0], out[:, 1])


def test_float_to_s16_clips() -> None:
    assert float_to_s16(np.array([2.0, -2.0, 0.0])).tolist() == [32767, -32768, 0]


def test_level_is_log_scaled() -> None:
    assert level(np.zeros(100, np.float32)) == 0.0
    assert level(np.ones(100, np.float32)) == pytest.approx(1.0)
    assert level(np.full(100, 0.001, np.float32)) == pytest.approx(0.0, abs=1e-6)  # -60 dBFS
    assert level(np.full(100, 0.0316, np.float32)) == pytest.approx(0.5, abs=0.01)  # -30 dBFS
