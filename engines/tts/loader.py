"""Finding, loading and warming up the Qwen3-TTS models before the engine listens.

A model is a local directory or a hub repo id (engines.common.models finds it: a repo
id is taken from the local hub cache, else downloaded with progress bars on stderr;
offline and not cached means ``model_not_found`` with what to do, never a traceback).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from engines.common.models import locate
from engines.protocol.errors import BAD_REQUEST, EngineError, ModelNotFound

_LOG = logging.getLogger(__name__)
ATTENTION = ("sdpa", "flash_attention_2", "eager")
EXAMPLE_MODEL = "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice"


def pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError(f"--device {device}: this torch build or machine has no CUDA; use --device cpu",
                          BAD_REQUEST)
    return device


def pick_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def pick_attention(attn: str, graphs: bool = False) -> str:
    """flash-attn is optional: asked for but absent, fall back to SDPA with a warning.

    ``graphs``: the CUDA-graph path may serve. It needs SDPA: flash-attn's unpadding syncs
    with the host inside the captured step, so capture would fail and the engine would
    silently serve the slow stock path."""
    if graphs and attn != "sdpa":
        _LOG.warning("--attn %s: the CUDA-graph path runs on SDPA attention; %s applies with --backend stock only",
                     attn, attn)
        return "sdpa"
    if attn == "flash_attention_2":
        import importlib.util

        if importlib.util.find_spec("flash_attn") is None:
            _LOG.warning("flash-attn is not installed; using SDPA attention")
            return "sdpa"
    return attn


def load(ref: str, device: str, dtype: Any, attn: str) -> Any:
    """Load one model with ``Qwen3TTSModel.from_pretrained`` and log time and memory."""
    path = str(locate(ref, EXAMPLE_MODEL))
    from qwen_tts import Qwen3TTSModel

    started = time.perf_counter()
    wrapper = Qwen3TTSModel.from_pretrained(path, device_map=device, dtype=dtype, attn_implementation=attn)
    _LOG.info("loaded %s (%s) on %s as %s with %s attention in %.1f s%s", ref, wrapper.model.tts_model_type,
              device, str(dtype).replace("torch.", ""), attn, time.perf_counter() - started, gpu_memory())
    return wrapper


def gpu_memory() -> str:
    import torch

    if not torch.cuda.is_available():
        return ""
    return (f"; GPU memory {torch.cuda.memory_allocated() / 2**30:.2f} GiB allocated, "
            f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB peak")


def check_kind(wrapper: Any, expected: str, flag: str) -> None:
    kind = wrapper.model.tts_model_type
    if kind != expected:
        raise ModelNotFound(f"{flag} wants a Qwen3-TTS {expected} model, but the model given is a {kind} model")


def pick_path(requested: str, device: str, build: Callable[[], Any]) -> tuple[Any | None, str]:
    """The graph path when asked for (auto/graph) on CUDA and it builds; else (None, why not).

    ``build`` loads nothing new: it wraps the loaded models in CUDA graphs and captures
    them, so it raises where capture fails. The reason is logged once, here.
    """
    if requested == "stock":
        return None, "--backend stock"
    if not device.startswith("cuda"):
        why = f"no CUDA device (--device {device})"
    else:
        from .sampling import CannotCapture

        try:
            return build(), ""
        except CannotCapture as exc:
            why = str(exc)
        except Exception as exc:  # capture errors come from torch, transformers and faster-qwen3-tts alike
            why = f"CUDA graph capture failed ({type(exc).__name__}: {str(exc)[:300]})"
    _LOG.warning("serving through qwen_tts' stock generation: %s", why)
    return None, why


def graph_cache_len(max_new_tokens: int, sentence_chars: int, reference_frames: int = 375,
                    reference_tokens: int = 320) -> int:
    """Static-cache positions for the worst sentence and prompt (not faster-qwen3-tts' 2048 default).

    The worst case is a CJK sentence (about one token per character, and the most frames per
    character) spoken by an ICL-cloned voice: chat markers, the sentence's tokens, the
    reference transcript's tokens (30 s of fast speech), the reference codes (30 s at
    12.5 Hz), then the sentence's own frame budget. Rounded up to 64. Past it, generation
    stops early (logged): every step attends over the whole length, so it is no bigger.
    """
    from .text import max_frames

    prompt = 64 + sentence_chars + reference_tokens + reference_frames
    frames = max_frames("\u4e2d" * sentence_chars, max_new_tokens)
    return -(-(prompt + frames) // 64) * 64
