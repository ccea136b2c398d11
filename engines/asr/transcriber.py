"""GLM-ASR inference with transformers: load, warm up, transcribe one window of at most 30 s.

Every model call runs on one dedicated thread that this class owns (``ModelThread``),
whichever thread asks: warm-up and every request alike. torch's compiled CUDA-graph
state (cudagraph trees) is thread-local, so a decode step compiled and recorded on one
thread must be replayed on that thread; the engine's worker threads only wait for it.
Decoding is greedy. Two decoders (engines/asr/decode.py): on CUDA a
static cache whose decode step generate compiles once, at start-up, for the one
shape it will ever see; elsewhere, or when compiling fails, the dynamic cache. The
inputs come from engines/asr/features.py (features computed while audio arrives,
copied to the GPU from pinned memory) rather than the processor. On the dynamic
path a streamer turns each new token into a text delta for the client; the static
path sends a window's text when the window is done (a window is a few seconds
now that the engine transcribes while the user speaks). A stopping criterion checks
the request's CancelToken (a closed connection ends generation within one token)
and the repetition-loop guard. This module and features.py import torch.
"""
from __future__ import annotations

import gc
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSeq2SeqLM, AutoProcessor, StaticCache, StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from engines.protocol.errors import CUDA_OOM, UNSUPPORTED, Cancelled, EngineError, ModelNotFound
from engines.common.handler import CancelToken

from .decode import Backend, choose_backend, fallback
from .features import LogMel, Prompt
from .guards import MAX_TOKENS, cut_loop, loop_period, token_budget

_LOG = logging.getLogger(__name__)
Emit = Callable[[str], None]
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
WINDOW_SAMPLES = 30 * 16000


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
    prefill_s: float  # from preparing the inputs to the first new token (features, encoder, prompt)
    decode_s: float   # from the first to the last new token
    looped: bool      # the repetition guard stopped decoding


class _TextDeltas(BaseStreamer):
    """Receives token ids from generate; emits the new text."""

    def __init__(self, decode: Callable[[list[int]], str], emit: Emit | None) -> None:
        self.decode, self.emit = decode, emit
        self.ids: list[int] = []
        self.sent = ""
        self._prompt_skipped = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_skipped:  # generate pushes the prompt first
            self._prompt_skipped = True
            return
        self.ids.extend(value.reshape(-1).tolist())
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
    """Stops generate on a closed connection (by raising Cancelled) or a repetition loop.

    It reads one new token id per step (generate synchronises on every step anyway)
    and answers with a tensor made once, so a step costs microseconds here."""

    def __init__(self, token: CancelToken, loop_guard: bool, prompt_length: int, device: torch.device) -> None:
        self.token, self.loop_guard, self.prompt_length = token, loop_guard, prompt_length
        self.ids: list[int] = []
        self.looped = False
        self.first = self.last = 0.0
        self._no = torch.zeros(1, dtype=torch.bool, device=device)
        self._yes = torch.ones(1, dtype=torch.bool, device=device)

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        self.token.check()
        if input_ids.shape[1] - self.prompt_length == len(self.ids) + 1:
            self.ids.append(int(input_ids[0, -1]))
        else:
            self.ids = input_ids[0, self.prompt_length:].tolist()
        self.last = time.perf_counter()
        self.first = self.first or self.last
        if self.loop_guard and not self.looped and loop_period(self.ids):
            self.looped = True
        return self._yes if self.looped else self._no


class ModelThread:
    """One thread that runs every model call; a call made on it runs in place (no deadlock)."""

    def __init__(self, name: str = "asr-model") -> None:
        self._ident = 0
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name, initializer=self._note)

    def _note(self) -> None:
        self._ident = threading.get_ident()

    def run(self, fn: Callable, *args, **kwargs):
        if threading.get_ident() == self._ident:
            return fn(*args, **kwargs)
        return self._pool.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        self._pool.shutdown(wait=False)


class Transcriber:
    """A loaded GLM-ASR model and processor, and the decoder in use."""

    def __init__(self, model, processor, device: torch.device, dtype: torch.dtype,
                 backend: Backend | None = None) -> None:
        self.model, self.processor = model, processor
        self.device, self.dtype = device, dtype
        self.tokenizer = processor.tokenizer
        self.prompt = Prompt(processor)
        self.eos = set(_as_list(model.generation_config.eos_token_id))
        self.loop_guard = True  # stop decoding on a repetition loop (--no-loop-guard turns it off)
        self.stock_inputs = False  # benchmarks: inputs from the processor at the end, as before features.py
        self.forced_rate: float | None = None  # benchmarks: decode this many tokens per second of window
        self.inject_oom = False  # test knob: the next window raises a CUDA OOM
        self._pinned: torch.Tensor | None = None
        self.backend = Backend(False, False, "not chosen yet")
        self.cache: StaticCache | None = None
        self.thread = ModelThread()
        self._warming = False
        self.use_backend(backend or Backend(False, False, "default"))

    @classmethod
    def load(cls, path: Path, device: torch.device, dtype: torch.dtype, decode: str = "auto") -> Transcriber:
        try:
            processor = AutoProcessor.from_pretrained(path)
            model = AutoModelForSeq2SeqLM.from_pretrained(path, dtype=dtype, attn_implementation="sdpa")
        except (OSError, ValueError, KeyError) as exc:
            raise ModelNotFound(
                f"could not load a GLM-ASR model from {path}: {type(exc).__name__}: {str(exc)[:300]}; check that the "
                "directory is a complete transformers-format copy of GLM-ASR-Nano-2512 (re-download it)") from None
        backend = choose_backend(decode, device.type, compiler_problem(device))
        return cls(model.to(device).eval(), processor, device, dtype, backend)

    @property
    def cache_length(self) -> int:
        """Room for the longest prompt (a 30 s window) and the largest token budget, in steps of 128."""
        longest = len(self.prompt.ids(LogMel(self.processor.feature_extractor).frames)) + MAX_TOKENS
        return -(-longest // 128) * 128

    def use_backend(self, backend: Backend) -> None:
        self.backend = backend
        self.cache = None
        if backend.static:
            self.cache = StaticCache(config=self.model.config.get_text_config(decoder=True),
                                     max_cache_len=self.cache_length)

    def new_features(self) -> LogMel:
        """Features for a window whose audio is about to arrive (fed with LogMel.update)."""
        return LogMel(self.processor.feature_extractor)

    def warm_up(self) -> None:
        self._warming = True
        try:
            self.thread.run(self._warm_up)
        finally:
            self._warming = False

    def _warm_up(self) -> None:
        """Compile (the static decoder on CUDA) and run every shape before the first user request.

        The compiled decode step has one shape whatever the audio (the cache length is
        fixed); prefill shapes follow the audio, so a 1 s and a 30 s window are run too.
        If compiling or running the compiled step fails, the dynamic cache takes over.
        """
        rng = np.random.default_rng(0)
        short = (0.01 * rng.standard_normal(16000)).astype(np.float32)
        if self.backend.compiled:
            started = time.perf_counter()
            try:
                for _ in range(3):  # compile, then record the CUDA graph
                    self.transcribe(short, None, CancelToken(), forced_tokens=4)
                longest = (0.01 * rng.standard_normal(WINDOW_SAMPLES)).astype(np.float32)
                self.transcribe(longest, None, CancelToken(), forced_tokens=2)
                _LOG.info("decoder: %s, compiled and warmed up in %.1f s", self.backend.name,
                          time.perf_counter() - started)
            except EngineError:
                raise
            except Exception as exc:  # an inductor/Triton/CUDA-graph failure: decode eagerly instead
                self.use_backend(fallback(exc))
                torch._dynamo.reset()
        if not self.backend.compiled:
            _LOG.info("decoder: %s (%s)", self.backend.name, self.backend.reason)
        self.transcribe(short, None, CancelToken(), max_new_tokens=2)

    def transcribe(self, audio: np.ndarray, emit: Emit | None, token: CancelToken, *,
                   max_new_tokens: int | None = None, forced_tokens: int | None = None,
                   features: LogMel | None = None) -> WindowResult:
        """Text of one window of 16 kHz mono audio (at most 30 s); deltas go to ``emit`` as they appear.

        ``features``: the window's LogMel, fed while its audio arrived (else computed here).
        Runs on the model thread; the caller's thread waits."""
        return self.thread.run(self._transcribe, audio, emit, token, max_new_tokens, forced_tokens, features)

    def _transcribe(self, audio: np.ndarray, emit: Emit | None, token: CancelToken, max_new_tokens: int | None,
                    forced_tokens: int | None, features: LogMel | None) -> WindowResult:
        try:
            try:
                return self._generate(audio, emit, token, max_new_tokens, forced_tokens, features)
            except (EngineError, Cancelled, torch.OutOfMemoryError):
                raise
            except Exception as exc:
                if not self.backend.compiled or self._warming:
                    raise  # warm-up has its own fallback
                error = exc  # a recompile or graph replay failed while serving: decode eagerly from now on
            _LOG.warning("decoder: the compiled decode step failed while serving (%s: %s); %s from now on",
                         type(error).__name__, str(error).splitlines()[0][:200] if str(error) else "",
                         fallback(error).name)
            self.use_backend(fallback(error))
            torch._dynamo.reset()
            return self._generate(audio, emit, token, max_new_tokens, forced_tokens, features)
        except torch.OutOfMemoryError:
            pass  # leave the except block first, so the traceback's tensors can be freed
        self.free_memory()
        raise EngineError(
            f"the GPU ran out of memory transcribing {audio.size / 16000:.1f} s of audio; close other programs "
            "using the GPU or send shorter audio", CUDA_OOM)

    def inputs(self, audio: np.ndarray, features: LogMel | None = None) -> dict[str, torch.Tensor]:
        """The model inputs for one window, on the device (what the processor would give)."""
        if self.stock_inputs:
            return dict(self.processor.apply_transcription_request(audio).to(self.device, dtype=self.dtype))
        values, frames = (features or self.new_features()).finish(audio)
        ids = torch.tensor([self.prompt.ids(frames)])
        mask = torch.zeros(1, values.shape[-1], dtype=torch.int32)
        mask[0, :frames] = 1
        return {"input_ids": ids.to(self.device), "attention_mask": torch.ones_like(ids).to(self.device),
                "input_features": self._to_device(values), "input_features_mask": mask.to(self.device)}

    def _to_device(self, values: torch.Tensor) -> torch.Tensor:
        if self.device.type != "cuda":
            return values.to(self.dtype)
        if self._pinned is None or self._pinned.shape != values.shape:
            self._pinned = torch.empty(values.shape, dtype=values.dtype, pin_memory=True)
        self._pinned.copy_(values)  # the previous copy has finished: generate synchronised since
        return self._pinned.to(self.device, non_blocking=True).to(self.dtype)

    def _generate(self, audio: np.ndarray, emit: Emit | None, token: CancelToken, max_new_tokens: int | None,
                  forced_tokens: int | None, features: LogMel | None) -> WindowResult:
        seconds = audio.size / 16000
        if forced_tokens is None and self.forced_rate:
            forced_tokens = max(1, round(self.forced_rate * seconds))
        if self.inject_oom:
            self.inject_oom = False
            raise torch.OutOfMemoryError("CUDA out of memory (injected by SISYPHUS_ASR_FAULT=oom-once)")
        start = time.perf_counter()
        inputs = self.inputs(audio, features)
        budget = forced_tokens or max_new_tokens or token_budget(seconds)
        prompt_length = inputs["input_ids"].shape[1]
        guard = _Guard(token, self.loop_guard and forced_tokens is None, prompt_length, self.device)
        kwargs = {"do_sample": False, "num_beams": 1, "max_new_tokens": budget, "min_new_tokens": forced_tokens,
                  "stopping_criteria": StoppingCriteriaList([guard])}
        static = self.cache is not None and prompt_length + budget <= self.cache_length
        if not static:  # per-token text deltas only here: the static path's windows are short and fast
            kwargs["streamer"] = _TextDeltas(self._decode, emit)
        with torch.inference_mode():
            if static:
                assert self.cache is not None
                self.cache.reset()  # its tensors were made in inference mode: reset them there
                kwargs.update(past_key_values=self.cache, disable_compile=not self.backend.compiled)
            self.model.generate(**inputs, **kwargs)
        ids = [i for i in guard.ids if i not in self.eos]
        if guard.looped:
            ids = cut_loop(ids)
        text = self._decode(ids).strip()
        if static and emit is not None and text:
            emit(text)
        first = guard.first or time.perf_counter()
        return WindowResult(text=text, new_tokens=len(guard.ids), prefill_s=first - start,
                            decode_s=(guard.last or first) - first, looped=guard.looped)

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


def compiler_problem(device: torch.device) -> str | None:
    """Why torch.compile cannot build CUDA kernels here, or None."""
    if device.type != "cuda":
        return None
    try:
        from torch.utils._triton import has_triton
    except ImportError:
        return None
    return None if has_triton() else "Triton is missing (it comes with CUDA builds of torch: reinstall torch)"


def _as_list(value) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [int(value)]
