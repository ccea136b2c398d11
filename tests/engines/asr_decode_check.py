"""Run in the ASR engine venv by test_asr_decode.py: ``python -m tests.engines.asr_decode_check MODEL_DIR``.

Prints one JSON object with what the test asserts on: token ids per clip for each
decoder and input route, what warm_up did when compiling failed, features and prompt
ids against the processor, and the VAD's probabilities whole vs streamed.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from engines.asr.decode import Backend
from engines.asr.transcriber import Transcriber
from engines.asr.vad import SileroVad, find_model
from engines.common.handler import CancelToken

LENGTHS_S = (0.4, 1.0, 2.7, 6.0, 13.1, 30.0)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def token_ids(transcriber: Transcriber, clips: list[np.ndarray]) -> list[list[int]]:
    out = []
    original = transcriber.model.generate

    def keep(*args, **kwargs):
        result = original(*args, **kwargs)
        out.append(result[0, kwargs["input_ids"].shape[1]:].tolist())
        return result

    transcriber.model.generate = keep
    try:
        for clip in clips:
            transcriber.transcribe(clip, None, CancelToken())
    finally:
        transcriber.model.generate = original
    return out


def compile_failure(transcriber: Transcriber, lines: _Lines) -> dict:
    """warm_up with a compiled decoder whose compilation raises (injected: a CPU does not compile)."""
    original = transcriber.model.generate

    def failing(*args, **kwargs):
        if kwargs.get("disable_compile") is False:
            raise RuntimeError("inductor: compilation failed (injected)")
        return original(*args, **kwargs)

    transcriber.model.generate = failing
    transcriber.use_backend(Backend(True, True, "test"))
    try:
        transcriber.warm_up()
    finally:
        transcriber.model.generate = original
    return {"static": transcriber.backend.static, "compiled": transcriber.backend.compiled,
            "reason": transcriber.backend.reason, "log": [line for line in lines.lines if "decoder" in line]}


def model_threads(transcriber: Transcriber, clips: list[np.ndarray]) -> dict:
    """Which threads run generate when warm-up and requests come from several threads."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    seen: set[int] = set()
    original = transcriber.model.generate

    def note(*args, **kwargs):
        seen.add(threading.get_ident())
        return original(*args, **kwargs)

    transcriber.model.generate = note
    try:
        transcriber.warm_up()
        with ThreadPoolExecutor(3) as pool:  # the engine's request threads
            list(pool.map(lambda clip: transcriber.transcribe(clip, None, CancelToken()), clips[:3]))
    finally:
        transcriber.model.generate = original
    return {"generate_threads": len(seen), "caller_is_model_thread": threading.get_ident() in seen}


def serving_failure(transcriber: Transcriber, clips: list[np.ndarray], lines: _Lines) -> dict:
    """A compiled decoder that warmed up fine but raises while serving (a recompile on CUDA)."""
    original = transcriber.model.generate
    calls = {"compiled": 0}

    def failing(*args, **kwargs):
        if kwargs.get("disable_compile") is False:
            calls["compiled"] += 1
            raise AssertionError("cudagraph trees: a recompile on another thread (injected)")
        return original(*args, **kwargs)

    transcriber.use_backend(Backend(True, True, "test"))
    transcriber.model.generate = failing
    try:
        texts = [transcriber.transcribe(clip, None, CancelToken()).text for clip in clips]
    finally:
        transcriber.model.generate = original
    return {"texts": texts, "compiled_calls": calls["compiled"], "compiled": transcriber.backend.compiled,
            "log": [line for line in lines.lines if "while serving" in line]}


def main(model: Path) -> None:
    lines = _Lines()
    logging.getLogger("engines.asr.transcriber").addHandler(lines)
    logging.getLogger("engines.asr.transcriber").setLevel(logging.INFO)
    transcriber = Transcriber.load(model, torch.device("cpu"), torch.float32)
    rng = np.random.default_rng(7)
    clips = [(0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32) for s in LENGTHS_S]
    result = {"default_backend": transcriber.backend.reason}
    transcriber.stock_inputs = True
    result["stock"] = token_ids(transcriber, clips)
    transcriber.stock_inputs = False
    result["dynamic"] = token_ids(transcriber, clips)
    transcriber.use_backend(Backend(True, False, "test"))
    result["static"] = token_ids(transcriber, clips)
    result["static_again"] = token_ids(transcriber, clips[::-1])[::-1]
    result["fallback"] = compile_failure(transcriber, lines)
    result["after_fallback"] = token_ids(transcriber, clips)
    result["threads"] = model_threads(transcriber, clips)
    result["dynamic_texts"] = [transcriber.transcribe(clip, None, CancelToken()).text for clip in clips]
    result["serving_failure"] = serving_failure(transcriber, clips, lines)
    processor = transcriber.processor
    result["features"] = []
    for clip in clips:
        reference = processor.apply_transcription_request(clip)
        features = transcriber.new_features()
        for end in range(0, clip.size, 1600):  # fed in 100 ms chunks, as audio arrives
            features.update(clip[:end])
        ours = transcriber.inputs(clip, features)
        result["features"].append({
            "max_abs_diff": float((ours["input_features"] - reference["input_features"]).abs().max()),
            "ids_equal": ours["input_ids"].tolist() == reference["input_ids"].tolist(),
            "mask_equal": ours["input_features_mask"].tolist() == reference["input_features_mask"].tolist()})
    vad = SileroVad(find_model())
    speechy = np.concatenate([clips[3], np.zeros(8000, np.float32), clips[2]])
    stream, parts = vad.stream(), []
    for i in range(0, speechy.size, 1234):
        parts.append(stream.push(speechy[i:i + 1234]))
    parts.append(stream.finish())
    result["vad_max_diff"] = float(np.abs(np.concatenate(parts) - vad.probabilities(speechy)).max())
    print(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
