"""GLM-ASR inference with transformers: load, warm up, transcribe one window of at most 30 s.

Everything here runs in the engine's model thread (Handler.stream_model), never on
the event loop. Decoding is greedy; while it runs, a streamer turns new tokens into
text deltas for the client and a stopping criterion checks the request's
CancelToken (a closed connection ends generation within one token) and the
repetition-loop guard. This is the only module that imports torch and transformers.
"""
from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSeq2SeqLM, AutoProcessor, StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from engines.common.errors import CUDA_OOM, UNSUPPORTED, EngineError, ModelNotFound
from engines.common.handler import CancelToken

from .guards import cut_loop, loop_period, token_budget

_LOG = logging.getLogger(__name__)
Emit = Callable[[str], None]
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def pick_device(choice: str) -> torch.device:
    """``auto``: the first CUDA GPU when torch sees one, else the CPU."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise EngineError(
            f"--device {choice}: torch {torch.__version__} ({build}) sees no CUDA GPU; check the NVIDIA driver "
            "(nvidia-smi), rebuild the engine venv with `python -m installer.venvs asr DEST --torch cuda`, "
            "or use --device cpu", UNSUPPORTED)
    return torch.device(choice)


def pick_dtype(choice: str, device: torch.device) -> torch.dtype:
    """``auto``: bfloat16 on a GPU that has it (float16 on older ones), float32 on the CPU."""
    if choice != "auto":
        return DTYPES[choice]
    if device.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@dataclass(frozen=True)
class WindowResult:
    text: str
    new_tokens: int
    prefill_s: float  # from the start of generate to the first new token (encoder + prompt)
    decode_s: float   # from the first to the last new token
    looped: bool      # the repetition guard stopped decoding


class _TextDeltas(BaseStreamer):
    """Receives token ids from generate; emits the new text and times the tokens."""

    def __init__(self, decode: Callable[[list[int]], str], emit: Emit | None) -> None:
        self.decode, self.emit = decode, emit
        self.ids: list[int] = []
        self.sent = ""
        self.first = self.last = 0.0
        self._prompt_skipped = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_skipped:  # generate pushes the prompt first
            self._prompt_skipped = True
            return
        self.ids.extend(value.reshape(-1).tolist())
        self.last = time.perf_counter()
        self.first = self.first or self.last
        if self.emit is not None:
            self._emit_delta()

    def _emit_delta(self, final: bool = False) -> None:
        text = self.decode(self.ids).lstrip()
        if (text.endswith("\ufffd") and not final) or not text.startswith(self.sent):
            return  # half a UTF-8 character, or a merge that rewrote the text: wait for more tokens
        if len(text) > len(self.sent):
            delta, self.sent = text[len(self.sent):], text
            if self.emit is not None:
                self.emit(delta)

    def end(self) -> None:
        if self.emit is not None:
            self._emit_delta(final=True)


class _Guard(StoppingCriteria):
    """Stops generate on a closed connection (by raising Cancelled) or a repetition loop."""

    def __init__(self, token: CancelToken, deltas: _TextDeltas, loop_guard: bool) -> None:
        self.token, self.deltas, self.loop_guard = token, deltas, loop_guard
        self.looped = False

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        self.token.check()
        if self.loop_guard and loop_period(self.deltas.ids):
            self.looped = True
        return torch.full((input_ids.shape[0],), self.looped, dtype=torch.bool, device=input_ids.device)


class Transcriber:
    """A loaded GLM-ASR model and processor."""

    def __init__(self, model, processor, device: torch.device, dtype: torch.dtype) -> None:
        self.model, self.processor = model, processor
        self.device, self.dtype = device, dtype
        self.tokenizer = processor.tokenizer
        self.eos = set(_as_list(model.generation_config.eos_token_id))
        self.loop_guard = True  # stop decoding on a repetition loop (--no-loop-guard turns it off)
        self.forced_tokens: int | None = None  # benchmarks: decode exactly this many tokens per window
        self.inject_oom = False  # test knob: the next window raises a CUDA OOM

    @classmethod
    def load(cls, path: Path, device: torch.device, dtype: torch.dtype) -> Transcriber:
        try:
            processor = AutoProcessor.from_pretrained(path)
            model = AutoModelForSeq2SeqLM.from_pretrained(path, dtype=dtype, attn_implementation="sdpa")
        except (OSError, ValueError, KeyError) as exc:
            raise ModelNotFound(
                f"could not load a GLM-ASR model from {path}: {type(exc).__name__}: {str(exc)[:300]}; check that the "
                "directory is a complete transformers-format copy of GLM-ASR-Nano-2512 (re-download it)") from None
        return cls(model.to(device).eval(), processor, device, dtype)

    def warm_up(self) -> None:
        """One short inference, so the first user request does not pay for lazy init and kernel selection."""
        noise = (0.01 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
        self.transcribe(noise, None, CancelToken(), max_new_tokens=2)

    def transcribe(self, audio: np.ndarray, emit: Emit | None, token: CancelToken, *,
                   max_new_tokens: int | None = None, forced_tokens: int | None = None) -> WindowResult:
        """Text of one window of 16 kHz mono audio (at most 30 s); deltas go to ``emit`` as they appear."""
        try:
            return self._generate(audio, emit, token, max_new_tokens, forced_tokens)
        except torch.OutOfMemoryError:
            pass  # leave the except block first, so the traceback's tensors can be freed
        self.free_memory()
        raise EngineError(
            f"the GPU ran out of memory transcribing {audio.size / 16000:.1f} s of audio; close other programs "
            "using the GPU or send shorter audio", CUDA_OOM)

    def _generate(self, audio: np.ndarray, emit: Emit | None, token: CancelToken,
                  max_new_tokens: int | None, forced_tokens: int | None) -> WindowResult:
        forced_tokens = forced_tokens or self.forced_tokens
        if self.inject_oom:
            self.inject_oom = False
            raise torch.OutOfMemoryError("CUDA out of memory (injected by SISYPHUS_ASR_FAULT=oom-once)")
        inputs = self.processor.apply_transcription_request(audio).to(self.device, dtype=self.dtype)
        deltas = _TextDeltas(self._decode, emit)
        guard = _Guard(token, deltas, loop_guard=self.loop_guard and forced_tokens is None)
        budget = forced_tokens or max_new_tokens or token_budget(audio.size / 16000)
        start = time.perf_counter()
        with torch.inference_mode():
            self.model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=budget,
                                min_new_tokens=forced_tokens, streamer=deltas,
                                stopping_criteria=StoppingCriteriaList([guard]))
        ids = [i for i in deltas.ids if i not in self.eos]
        if guard.looped:
            ids = cut_loop(ids)
        first = deltas.first or time.perf_counter()
        return WindowResult(text=self._decode(ids).strip(), new_tokens=len(deltas.ids), prefill_s=first - start,
                            decode_s=(deltas.last or first) - first, looped=guard.looped)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def free_memory(self) -> None:
        """Give cached CUDA blocks back after an OOM (the weights stay loaded)."""
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def memory_report(self) -> str:
        if self.device.type != "cuda":
            return "on CPU"
        free, total = torch.cuda.mem_get_info(self.device)
        return (f"GPU memory: {torch.cuda.memory_allocated(self.device) / 2**30:.2f} GiB allocated, "
                f"{torch.cuda.max_memory_reserved(self.device) / 2**30:.2f} GiB peak reserved, "
                f"{free / 2**30:.1f} of {total / 2**30:.1f} GiB free on {torch.cuda.get_device_name(self.device)}")


def _as_list(value) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [int(value)]
