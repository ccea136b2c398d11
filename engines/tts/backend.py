"""Qwen3-TTS with streaming audio out: one sentence per generation, frames decoded as they arrive.

qwen_tts (qwen-tts-hf) only returns whole utterances. The frame source is a path
(``fast.StockPath``: the package's generate() with a talker hook, on a CPU;
``fast.GraphPath``: faster-qwen3-tts' CUDA graphs, on a GPU); each frame goes through
the cancel token (a closed connection stops generation within one frame) into a
``FrameDecoder`` whose decode keeps the codec's causal state (``codec.CodecStream``).
With both models on a GPU, one talker slot holds the weights of the model in use
(``slot.TalkerSlot``). Every method here runs in a worker thread, never on the event loop.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch

from engines.common.errors import UNKNOWN_VOICE, UNSUPPORTED, Cancelled, EngineError
from engines.common.handler import CancelToken

from .catalog import Choice, language_name
from .codec import CodecStream, UnsupportedDecoder
from .fast import StockPath
from .store import Voice, VoiceStore
from .streaming import LEFT_CONTEXT, FrameDecoder
from .text import max_frames

_LOG = logging.getLogger(__name__)
_WRAPPER_API = ("_tokenize_texts", "_build_assistant_text", "_build_ref_text", "_merge_generate_kwargs",
                "_prompt_items_to_voice_clone_prompt", "create_voice_clone_prompt")


def check_api(wrapper: Any) -> None:
    """Fail at start-up, not mid-request, if a qwen-tts upgrade moved what we rely on."""
    missing = [name for name in _WRAPPER_API if not hasattr(wrapper, name)]
    if missing or not hasattr(wrapper.model, "talker"):
        raise RuntimeError(f"qwen_tts API changed (missing {missing}); engines/tts needs qwen-tts-hf==0.1.1.post1")


class Synthesizer:
    """The loaded models (either may be None) and the per-sentence streaming call."""

    def __init__(self, custom: Any | None, base: Any | None, store: VoiceStore, max_new_tokens: int = 2048,
                 path: Any = None, slot: Any = None) -> None:
        self.custom = custom
        self.base = base
        self.store = store
        self.max_new_tokens = max_new_tokens
        self.path = path or StockPath()
        self.slot = slot
        self.why_stock = ""  # why the graph path is not serving ("" when it is)
        self._generating = threading.Lock()
        self._windowed_logged = False
        for wrapper in (custom, base):
            if wrapper is not None:
                check_api(wrapper)

    # -- what we offer -------------------------------------------------------------------
    def presets(self) -> list[str]:
        return list(self.custom.get_supported_speakers() or []) if self.custom else []

    def memory(self) -> dict:
        """The serving path and, on a GPU, this process's GPU memory now and at peak (GiB)."""
        out: dict = {"path": self.path.name}
        if self.why_stock:
            out["why_stock"] = self.why_stock
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            out["gpu_gib"] = round(torch.cuda.memory_allocated() / 2**30, 2)
            out["gpu_peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if self.slot is not None:
            out["swaps"], out["last_swap_ms"] = self.slot.swaps, round(self.slot.last_swap_s * 1000)
        return out

    def free_memory(self) -> None:
        """After a CUDA OOM: hand cached blocks back so the next request can fit."""
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def languages(self) -> list[str]:
        wrapper = self.custom or self.base
        assert wrapper is not None, "the engine loads at least one model"
        return [lang for lang in wrapper.get_supported_languages() or [] if lang != "auto"]

    def choose(self, name: str | None) -> Choice:
        """Resolve a voice name: preset speakers first (case-insensitive), then cloned voices."""
        presets = self.presets()
        if not name:
            if presets:
                return Choice(speaker=presets[0])
            voices = self.store.list()
            if not voices:
                raise EngineError("no voice given and no voice available: add a cloned voice first", UNKNOWN_VOICE)
            name = voices[0].name
        if name.lower() in presets:
            return Choice(speaker=name.lower())
        voice = self.store.get(name)
        if voice is None:
            raise EngineError(f"unknown voice {name!r}; ask describe for the list", UNKNOWN_VOICE)
        if self.base is None:
            raise EngineError(f"voice {name!r} is a cloned voice but no Base model is loaded "
                              "(start the engine with --base-model)", UNSUPPORTED)
        return Choice(voice=voice)

    # -- one sentence ----------------------------------------------------------------------
    def speak(self, emit: Callable[[np.ndarray], None], text: str, choice: Choice,
              language: str | None = None, *, token: CancelToken, cap: int | None = None) -> None:
        """Generate ``text`` and ``emit`` float32 audio chunks as frames arrive (at most ``cap`` frames)."""
        wrapper = self.base if choice.voice else self.custom
        assert wrapper is not None, "choose() picks only a loaded model"
        language = language_name(language, set(wrapper.get_supported_languages() or []))
        item = self.clone_prompt(choice.voice) if choice.voice else None
        started = time.perf_counter()
        try:  # _generating: one generation at a time even if a cancelled one is still unwinding
            with self._generating, torch.inference_mode():
                if self.slot is not None:
                    self.slot.use(wrapper)
                decoder = self._frame_decoder(wrapper, item)

                def on_frame(frame: torch.Tensor | None) -> None:
                    token.check()
                    audio = decoder.push(frame) if frame is not None else None
                    if audio is not None:
                        emit(audio)

                self.path.generate(wrapper, text, language, choice.speaker, item,
                                   cap or max_frames(text, self.max_new_tokens), on_frame)
                tail = decoder.flush()
        except Cancelled:
            _LOG.info("cancelled after %d frames: %.40r", decoder.generated, text)
            raise
        if tail is not None:
            emit(tail)
        _LOG.debug("spoke %d frames (%.2f s of audio) in %.2f s", decoder.generated,
                   decoder.generated / 12.5, time.perf_counter() - started)

    def _frame_decoder(self, wrapper: Any, item: Any) -> FrameDecoder:
        """Stateful decode when the codec allows it (it always does for Qwen3-TTS-12Hz), else windowed."""
        codec = wrapper.model.speech_tokenizer.model.decoder
        ref = item.ref_code if item is not None and item.icl_mode and item.ref_code is not None else None
        try:
            stream = CodecStream(codec)
        except UnsupportedDecoder as exc:
            if not self._windowed_logged:
                _LOG.warning("codec decode re-runs %d frames of context per chunk (%s)", LEFT_CONTEXT, exc)
                self._windowed_logged = True
            decoder = FrameDecoder(decode=_decoder(wrapper), schedule=self.path.schedule)
            if ref is not None:
                decoder.prime(list(ref))
            return decoder
        if ref is not None:
            stream.push(ref[-LEFT_CONTEXT:])  # context only: its audio is the reference's
        return FrameDecoder(decode=lambda frames: stream.push(torch.stack(list(frames))),
                            schedule=self.path.schedule, left_context=0)

    # -- cloned voices ---------------------------------------------------------------------
    def clone_prompt(self, voice: Voice) -> Any:
        """The voice's clone prompt, computed once per (model, text) and cached next to it."""
        from qwen_tts import VoiceClonePromptItem

        if self.base is None:
            raise EngineError("cloned voices need the Base model (start the engine with --base-model)", UNSUPPORTED)
        path = voice.prompt_path(_prompt_key(self.base, voice.text))
        device = self.base.model.talker.device
        if path.is_file():
            with contextlib.suppress(Exception):  # a corrupt cache is recomputed, never fatal
                data = torch.load(path, map_location=device, weights_only=True)
                return VoiceClonePromptItem(**data)
        audio, rate = self.store.load_audio(voice)
        item = self.make_prompt(audio, rate, voice.text)
        self.save_prompt(voice, item)
        return item

    def make_prompt(self, audio: np.ndarray, rate: int, text: str, *, token: CancelToken | None = None) -> Any:
        """Clone prompt from reference audio: ICL with a transcript, speaker embedding (x-vector) without."""
        if self.base is None:
            raise EngineError("cloned voices need the Base model (start the engine with --base-model)", UNSUPPORTED)
        return self.base.create_voice_clone_prompt((audio, rate), ref_text=text or None,
                                                   x_vector_only_mode=not text)[0]

    def save_prompt(self, voice: Voice, item: Any) -> None:
        _save_prompt(voice.prompt_path(_prompt_key(self.base, voice.text)), item)


def _decoder(wrapper: Any) -> Callable[[Sequence[Any]], np.ndarray]:
    decoder = wrapper.model.speech_tokenizer.model.decoder

    def decode(frames: Sequence[Any]) -> np.ndarray:
        codes = torch.stack([f.to(decoder_device) for f in frames]).T.unsqueeze(0).clamp(min=0)
        with torch.inference_mode():
            wav = decoder(codes)
        return wav[0, 0].float().clamp(-1, 1).cpu().numpy()

    decoder_device = next(decoder.parameters()).device
    return decode


def _prompt_key(wrapper: Any, text: str) -> str:
    import hashlib

    ident = f"{wrapper.model.config._name_or_path}|{wrapper.model.config.talker_config.hidden_size}|{text}"
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def _save_prompt(path: Any, item: Any) -> None:
    import os
    import tempfile

    data = {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v) for k, v in vars(item).items()}
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "wb") as out:  # a file object: torch's zip writer dislikes dot-names
        torch.save(data, out)
    os.replace(tmp, path)
