"""The ASR decoders and inputs inside the engine venv (torch, the tiny random-weight GLM-ASR, CPU).

The static-cache decoder must give the same token ids as the dynamic one (on CUDA it is
compiled; a CPU proves the cache half of it), a failed compilation must fall back with
one log line, and the features computed as audio arrives must equal the processor's.
tests/engines/asr_decode_check.py runs in the venv and reports; this file asserts.
"""
from __future__ import annotations

import pytest

from tests.support.venvs import run_check

pytestmark = pytest.mark.engine_venv("asr")


@pytest.fixture(scope="module")
def report(asr_python, tiny_model) -> dict:
    return run_check(asr_python, "tests.engines.asr_decode_check", tiny_model)


def test_the_static_cache_gives_the_same_token_ids_as_the_dynamic_cache(report) -> None:
    assert all(len(ids) >= 2 for ids in report["dynamic"])  # random weights decode to the budget or a loop
    assert report["static"] == report["dynamic"]
    assert report["static_again"] == report["dynamic"], "the reused cache must not leak between requests"


def test_features_computed_as_audio_arrives_give_the_stock_transcripts(report) -> None:
    assert report["dynamic"] == report["stock"]
    for window in report["features"]:
        assert window["ids_equal"] and window["mask_equal"] and window["max_abs_diff"] < 1e-5, window


def test_a_failed_compilation_falls_back_to_the_dynamic_cache_saying_why(report) -> None:
    fallback = report["fallback"]
    assert not fallback["static"] and not fallback["compiled"]
    assert "compiling the decode step failed" in fallback["reason"] and "injected" in fallback["reason"]
    assert [line for line in fallback["log"] if "dynamic cache" in line and "injected" in line]
    assert report["after_fallback"] == report["dynamic"]


def test_the_cpu_uses_the_dynamic_cache_by_default_saying_why(report) -> None:
    assert "needs CUDA" in report["default_backend"]


def test_the_vad_gives_the_same_probabilities_streamed_as_whole(report) -> None:
    assert report["vad_max_diff"] < 1e-6


def test_every_model_call_runs_on_one_thread_whoever_asks(report) -> None:
    # torch's compiled CUDA-graph state is thread-local: warm-up and requests from three
    # threads must all reach generate on the same (model) thread, not the callers'.
    assert report["threads"] == {"generate_threads": 1, "caller_is_model_thread": False}


def test_a_compiled_decoder_failing_while_serving_falls_back_once_and_answers(report) -> None:
    failure = report["serving_failure"]
    assert failure["compiled_calls"] == 1, "one failure switches the decoder for good"
    assert not failure["compiled"]
    assert failure["texts"] == report["dynamic_texts"], "the failed request is answered, by the eager decoder"
    assert len(failure["log"]) == 1 and "injected" in failure["log"][0]
