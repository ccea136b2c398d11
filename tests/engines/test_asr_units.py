"""Unit tests of the ASR engine's pure parts (no torch): audio conversion, windows, guards, model paths.

They run in the daemon's dev venv; the real engine subprocess is tested in test_asr.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from engines.asr.audio import AudioBuffer, Resampler, check_format, resample
from engines.asr.decode import Backend, choose_backend, fallback
from engines.asr.guards import MAX_TOKENS, cut_loop, loop_period, token_budget
from engines.asr.segments import LIVE_MAX_S, VAD_WINDOW, has_speech, live_cut, split_windows
from engines.asr.source import resolve
from engines.common.models import is_repo_id, model_name
from engines.protocol.errors import BAD_AUDIO, EngineError, ModelNotFound

RATE = 16000


def _tone(freq: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.argmax(spectrum) * rate / audio.size)


# -- audio ----------------------------------------------------------------------------------
@pytest.mark.parametrize("src", [8000, 22050, 44100, 48000])
def test_resample_keeps_pitch_and_duration(src: int) -> None:
    out = resample(_tone(440.0, src), src, RATE)
    assert out.size == RATE
    assert abs(_peak_hz(out, RATE) - 440.0) < 2.0
    assert np.sqrt(np.mean(out**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_resample_removes_content_above_the_new_nyquist() -> None:
    # 12 kHz at 44.1 kHz would fold to 4 kHz with naive decimation; it must vanish instead.
    out = resample(_tone(12000.0, 44100), 44100, RATE)
    assert np.sqrt(np.mean(out**2)) < 0.01


def test_buffer_mixes_channels_and_joins_split_frames() -> None:
    left = (np.arange(100, dtype=np.int16) * 100)
    stereo = np.stack([left, -left], axis=1).reshape(-1).astype("<i2").tobytes()
    buffer = AudioBuffer(RATE, 2, 2, max_seconds=1)
    first = buffer.add(stereo[:7], RATE, 2, 2)  # a frame split across chunks
    out = np.concatenate([first, buffer.add(stereo[7:], RATE, 2, 2), buffer.finish()])
    assert out.size == 100 and np.allclose(out, 0.0)
    assert buffer.seconds == pytest.approx(100 / RATE)


@pytest.mark.parametrize("src", [8000, 44100, 48000])
def test_the_stream_resampler_gives_the_same_samples_however_the_input_is_chunked(src: int) -> None:
    audio = np.random.default_rng(3).standard_normal(src).astype(np.float32)
    whole = resample(audio, src, RATE)
    stream, parts, i = Resampler(src), [], 0
    for size in (1, 7, 100, 4410, 333, 20000, 9999999):
        parts.append(stream.push(audio[i:i + size]))
        i += size
    parts.append(stream.push(np.zeros(0, np.float32), final=True))
    chunked = np.concatenate(parts)
    assert chunked.size == whole.size == RATE
    np.testing.assert_allclose(chunked, whole, atol=1e-6)


def test_buffer_bounds_the_request_length() -> None:
    buffer = AudioBuffer(8000, 1, 1, max_seconds=2)
    buffer.add(bytes(8000 * 2), 8000, 1, 1)
    with pytest.raises(EngineError) as err:
        buffer.add(bytes(1), 8000, 1, 1)
    assert err.value.code == BAD_AUDIO and "2 s" in err.value.text


def test_buffer_refuses_a_format_change_mid_request() -> None:
    buffer = AudioBuffer(RATE, 2, 1, max_seconds=1)
    with pytest.raises(EngineError, match="differs from audio-start"):
        buffer.add(bytes(4), 8000, 2, 1)


@pytest.mark.parametrize("rate,width,channels,field", [(100, 2, 1, "rate"), (RATE, 5, 1, "width"),
                                                       (RATE, 2, 0, "channels")])
def test_check_format_names_the_bad_field(rate: int, width: int, channels: int, field: str) -> None:
    with pytest.raises(EngineError, match=field) as err:
        check_format(rate, width, channels)
    assert err.value.code == BAD_AUDIO


# -- segments -------------------------------------------------------------------------------
def test_has_speech_needs_more_than_a_click() -> None:
    probs = np.zeros(100)
    probs[10:12] = 0.9  # 64 ms
    assert not has_speech(probs)
    probs[20:30] = 0.9  # + 320 ms
    assert has_speech(probs)


def test_short_audio_is_one_window() -> None:
    assert split_windows(20 * RATE, np.ones(20 * RATE // VAD_WINDOW)) == [(0, 20 * RATE)]


def test_long_audio_is_cut_at_the_pause_before_30_s() -> None:
    n = 70 * RATE
    probs = np.ones(-(-n // VAD_WINDOW))
    pause = int(26 * RATE) // VAD_WINDOW
    probs[pause] = 0.0
    windows = split_windows(n, probs)
    assert windows[0] == (0, pause * VAD_WINDOW)
    assert windows[-1][1] == n
    assert all(b - a <= 30 * RATE for a, b in windows)
    assert all(windows[i][1] == windows[i + 1][0] for i in range(len(windows) - 1))


def test_long_audio_without_pauses_is_cut_at_30_s() -> None:
    n = 61 * RATE
    windows = split_windows(n, np.ones(-(-n // VAD_WINDOW)))
    assert [b - a for a, b in windows][:2] == [30 * RATE - 30 * RATE % VAD_WINDOW] * 2


# -- guards ---------------------------------------------------------------------------------
def test_token_budget_grows_with_audio_and_is_capped() -> None:
    assert token_budget(0) < token_budget(2) < token_budget(15) <= MAX_TOKENS
    assert token_budget(600) == MAX_TOKENS


def test_loop_period_ignores_speech_like_repeats() -> None:
    assert loop_period([5, 6, 7, 8, 9, 10]) == 0
    assert loop_period([1, 2, 3, 3, 3, 3]) == 0          # "no no no no"
    assert loop_period([1, 2, 3, 4, 2, 3, 4]) == 0       # a doubled phrase


def test_loop_period_finds_single_token_and_phrase_loops() -> None:
    assert loop_period([9] + [7] * 12) == 1
    assert loop_period([9] + [4, 5, 6] * 4) == 3


def test_cut_loop_keeps_one_copy() -> None:
    assert cut_loop([9, 8] + [4, 5, 6] * 5) == [9, 8, 4, 5, 6]
    assert cut_loop([1, 2, 3]) == [1, 2, 3]


# -- model source ---------------------------------------------------------------------------
def test_repo_ids_and_paths_are_told_apart(tmp_path) -> None:
    assert is_repo_id("zai-org/GLM-ASR-Nano-2512")
    assert not is_repo_id("/models/glm")
    assert not is_repo_id("./glm")
    assert model_name("zai-org/GLM-ASR-Nano-2512") == "zai-org/GLM-ASR-Nano-2512"
    assert model_name(str(tmp_path)) == tmp_path.name
    snapshot = tmp_path / "hub" / "models--zai-org--GLM-ASR-Nano-2512" / "snapshots" / ("0" * 40)
    assert model_name(str(snapshot)) == "zai-org/GLM-ASR-Nano-2512"  # what `sisyphus models` hands over


def test_missing_and_incomplete_model_dirs_are_explained(tmp_path) -> None:
    with pytest.raises(ModelNotFound, match="does not exist"):
        resolve(str(tmp_path / "nope"))
    with pytest.raises(ModelNotFound, match="no config.json"):
        resolve(str(tmp_path))
    (tmp_path / "config.json").write_text('{"model_type": "whisper"}')
    with pytest.raises(ModelNotFound, match="'whisper' model, not GLM-ASR"):
        resolve(str(tmp_path))
    (tmp_path / "config.json").write_text('{"model_type": "glmasr"}')
    assert resolve(str(tmp_path)) == tmp_path


# -- live segmentation ----------------------------------------------------------------------
def _probs(*spans: tuple[float, float]) -> np.ndarray:
    """VAD probabilities: (seconds, probability) spans one after another."""
    return np.concatenate([np.full(int(round(s * RATE / VAD_WINDOW)), p, np.float32) for s, p in spans])


def test_a_segment_closes_in_the_middle_of_the_first_pause_after_two_seconds() -> None:
    probs = _probs((1.0, 0.9), (0.5, 0.1), (1.5, 0.9), (0.5, 0.1), (1.0, 0.9))
    assert live_cut(probs[:int(2.9 * RATE / VAD_WINDOW)], 0) is None  # the pause at 3 s has not lasted yet
    cut = live_cut(probs, 0)
    assert cut is not None and 3.0 < cut * VAD_WINDOW / RATE < 3.5  # not the pause at 1 s: too early


def test_the_cut_does_not_depend_on_how_much_audio_has_arrived() -> None:
    probs = _probs((2.5, 0.9), (0.2, 0.1), (1.0, 0.9), (0.6, 0.2), (3.0, 0.9))
    first = next(live_cut(probs[:n], 0) for n in range(1, probs.size + 1) if live_cut(probs[:n], 0) is not None)
    assert first == live_cut(probs, 0)


def test_silence_alone_is_not_cut_early_and_speech_without_pauses_is_cut_at_the_limit() -> None:
    assert live_cut(_probs((8.0, 0.0)), 0) is None
    probs = _probs((LIVE_MAX_S + 3, 0.9))
    probs[int(12 * RATE / VAD_WINDOW)] = 0.3  # the least speech-like moment in the last 5 s before the limit
    assert live_cut(probs, 0) == int(12 * RATE / VAD_WINDOW)
    assert live_cut(probs[:int((LIVE_MAX_S - 1) * RATE / VAD_WINDOW)], 0) is None


def test_no_audio_or_less_than_one_vad_window_is_not_a_cut_yet() -> None:
    # A satellite's first 10 ms chunk gives no VAD window at all; a cut at the very end leaves none open.
    probs = _probs((3.0, 0.9), (0.5, 0.1))
    assert live_cut(np.zeros(0, np.float32), 0) is None
    assert all(live_cut(probs[:n], 0) is None for n in range(12))
    cut = live_cut(probs, 0)
    assert cut is not None and live_cut(probs[:cut], cut) is None


# -- decoder choice -------------------------------------------------------------------------
def test_cuda_gets_the_compiled_static_decoder_and_the_cpu_the_dynamic_one() -> None:
    assert choose_backend("auto", "cuda", None) == Backend(True, True, "CUDA")
    cpu = choose_backend("auto", "cpu", None)
    assert not cpu.static and not cpu.compiled and "needs CUDA" in cpu.reason
    assert choose_backend("static", "cpu", None).static and not choose_backend("static", "cpu", None).compiled
    assert choose_backend("dynamic", "cuda", None) == Backend(False, False, "--decode dynamic")


def test_without_a_compiler_cuda_falls_back_saying_why() -> None:
    backend = choose_backend("auto", "cuda", "Triton is missing")
    assert not backend.compiled and not backend.static and "Triton is missing" in backend.reason
    after = fallback(RuntimeError("inductor: no C compiler\nmore lines"))
    assert not after.static and "RuntimeError: inductor: no C compiler" in after.reason and "more" not in after.reason
    with pytest.raises(ValueError, match="auto, static, dynamic"):
        choose_backend("fast", "cuda", None)
