"""The ASR's compiled decoder on a CPU: one compile at warm-up, none while serving, all on the model thread.

generate compiles the static-cache decode step only on CUDA, so CI never ran that path.
tests/engines/asr_compile_check.py makes it compile on the CPU (torch.compile with a
counting eager backend, dynamo's guards and recompiles as on the GPU), warms up, serves
1, 5, 13 and 30 s windows from two request threads, and reports; this file asserts.
"""
from __future__ import annotations

import pytest

from tests.support.venvs import run_check

pytestmark = pytest.mark.engine_venv("asr")


@pytest.fixture(scope="module")
def report(asr_python, tiny_model) -> dict:
    return run_check(asr_python, "tests.engines.asr_compile_check", tiny_model, timeout=300)


def test_the_decode_step_compiles_once_at_warm_up_and_never_while_serving(report):
    assert report["backend"]["compiled"] and report["backend"]["static"], report["backend"]  # no fallback
    assert report["compiles"] == ["warm-up"], report["compiles"]
    assert report["warm_up_calls"] > 0 and report["serving_calls"] > 0, report
    assert report["dynamo"]["stats"]["unique_graphs"] == 1, report["dynamo"]


def test_every_compile_and_compiled_call_runs_on_the_model_thread(report):
    assert report["threads"] == {"compiles_on_model_thread": True, "calls_on_model_thread": True,
                                 "request_threads": 2, "a_request_thread_is_the_model_thread": False}


def test_the_compiled_decoder_gives_the_eager_static_decoders_text(report):
    assert report["texts_equal_eager"] and report["texts_again_equal"]
    assert all(report["texts"]), report["texts"]


def test_the_counts_would_see_a_recompile_and_a_call_off_the_model_thread(report):
    assert report["self_test"]["recompiles_seen"] >= 1, report["self_test"]
    assert report["self_test"]["off_thread_calls_seen"] >= 1, report["self_test"]
