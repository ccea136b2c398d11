"""Run in the ASR venv by test_asr_compile_standin.py: ``python -m tests.engines.asr_compile_check MODEL_DIR``.

The compiled decoder (engines/asr/transcriber.py, ``Backend(True, True, ...)``) on a CPU.
transformers' generate compiles the static-cache decode step only on CUDA; here the
model's ``compile_config`` asks it to compile on any device (``_compile_all_devices``)
with torch.compile's own settings (dynamo, ``dynamic=None``, the same guards and
recompiles) but a counting eager backend instead of inductor + CUDA graphs. Every
compile and every call of the compiled step notes its thread. Warm-up, then 1, 5, 13 and
30 s windows from two request threads. Prints one JSON object for the test to assert on.
What a CPU cannot show: inductor's kernels and cudagraph trees' own re-recording
(tests/bench/gpu_check.sh).
"""
from __future__ import annotations

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from transformers import CompileConfig

from engines.asr.decode import Backend
from engines.asr.transcriber import Transcriber
from engines.common.handler import CancelToken

WINDOWS_S = (1.0, 5.0, 13.0, 30.0)


class Compiles:
    """A torch.compile backend that runs the traced graph eagerly, noting compiles and calls per thread."""

    def __init__(self) -> None:
        self.compiles: list[dict] = []
        self.calls: list[int] = []

    def install(self, model) -> None:
        def backend(graph, example_inputs, **_options):  # a function: CompileConfig deep-copies its fields
            self.compiles.append({"thread": threading.get_ident(), "phase": self.phase})

            def run(*args):
                self.calls.append(threading.get_ident())
                return graph.forward(*args)
            return run

        config = CompileConfig(backend=backend, mode="default")  # else CompileConfig()'s defaults, as on CUDA
        config._compile_all_devices = True
        model.generation_config.compile_config = config
        self.phase = "warm-up"


def serve(transcriber: Transcriber, clips: list[np.ndarray]) -> tuple[list[str], set[int]]:
    callers: set[int] = set()

    def one(clip: np.ndarray) -> str:
        callers.add(threading.get_ident())
        return transcriber.transcribe(clip, None, CancelToken()).text

    with ThreadPoolExecutor(2, thread_name_prefix="request") as pool:
        return list(pool.map(one, clips)), callers


def self_test(transcriber: Transcriber, compiles: Compiles, clip: np.ndarray) -> dict:
    """The counts can see a recompile (a cache of another length: new shapes) and a call off the model thread."""
    from transformers import StaticCache

    compiles.phase = "self-test"
    before = len(compiles.compiles)
    transcriber.cache = StaticCache(config=transcriber.model.config.get_text_config(decoder=True),
                                    max_cache_len=transcriber.cache_length + 128)
    transcriber.transcribe(clip, None, CancelToken(), max_new_tokens=3)
    recompiles = len(compiles.compiles) - before
    calls = len(compiles.calls)
    transcriber._transcribe(clip, None, CancelToken(), 3, None, None)  # on this thread, not the model thread
    off_thread = sum(1 for t in compiles.calls[calls:] if t == threading.get_ident())
    return {"recompiles_seen": recompiles, "off_thread_calls_seen": off_thread}


def main(model: Path) -> None:
    torch.set_num_threads(1)  # a tiny model: more threads only spin on a shared CPU
    started = time.perf_counter()
    transcriber = Transcriber.load(model, torch.device("cpu"), torch.float32)
    rng = np.random.default_rng(5)
    clips = [(0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32) for s in WINDOWS_S]
    transcriber.use_backend(Backend(True, False, "static, eager: the reference"))
    eager, _ = serve(transcriber, clips)
    compiles = Compiles()
    compiles.install(transcriber.model)
    transcriber.use_backend(Backend(True, True, "compiled on a CPU by the stand-in"))
    transcriber.warm_up()
    warm_calls = len(compiles.calls)
    compiles.phase = "serving"
    texts, callers = serve(transcriber, clips)
    again, _ = serve(transcriber, clips[::-1])
    serving_calls = len(compiles.calls) - warm_calls
    model_thread = transcriber.thread._ident
    threads_ok = {"compiles_on_model_thread": all(c["thread"] == model_thread for c in compiles.compiles),
                  "calls_on_model_thread": all(t == model_thread for t in compiles.calls),
                  "request_threads": len(callers), "a_request_thread_is_the_model_thread": model_thread in callers}
    dynamo = {k: dict(v) for k, v in torch._dynamo.utils.counters.items()}
    phases = [c["phase"] for c in compiles.compiles]
    checked = self_test(transcriber, compiles, clips[0])
    print(json.dumps({
        "backend": {"compiled": transcriber.backend.compiled, "static": transcriber.backend.static,
                    "reason": transcriber.backend.reason},
        "compiles": phases, "warm_up_calls": warm_calls,
        "serving_calls": serving_calls,
        "threads": threads_ok, "self_test": checked,
        "texts_equal_eager": texts == eager, "texts_again_equal": again[::-1] == eager,
        "texts": eager, "dynamo": dynamo,
        "seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
