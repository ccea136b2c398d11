"""Qwen3-TTS with streaming audio out: one sentence per talker ``generate()``, frames
captured by a forward hook as the talker produces them, decoded incrementally.

qwen-tts 0.1.1 only returns whole utterances. Inside HF ``generate()`` every talker
decode step runs the code predictor and returns the finished 16-code frame in
``output.hidden_states[1]``; a forward hook on ``model.talker`` sees each frame the
moment it exists, checks the cancel token (a closed connection stops generation
within one frame) and hands the frame to a ``FrameDecoder``. We call the inner
``model.generate()`` with inputs built by the wrapper's own helpers (pinned 0.1.1,
checked at load by ``check_api``) so no whole-utterance decode runs at the end.
Every method here runs in a worker thread, never on the event loop.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from engines.common.errors import UNKNOWN_VOICE, UNSUPPORTED, Cancelled, EngineError
from engines.common.handler import CancelToken

from .catalog import Choice, language_name
from .store import Voice, VoiceStore
from .streaming import FrameDecoder
from .text import max_frames

_LOG = logging.getLogger(__name__)
_WRAPPER_API = ("_tokenize_texts", "_build_assistant_text", "_build_ref_text", "_merge_generate_kwargs",
                "_prompt_items_to_voice_clone_prompt", "create_voice_clone_prompt")


def check_api(wrapper: Any) -> None:
    """Fail at start-up, not mid-request, if a qwen-tts upgrade moved what we rely on."""
    missing = [name for name in _WRAPPER_API if not hasattr(wrapper, name)]
    if missing or not hasattr(wrapper.model, "talker"):
        raise RuntimeError(f"qwen-tts API changed (missing {missing}); engines/tts needs qwen-tts==0.1.1")


class Synthesizer:
    """The loaded models (either may be None) and the per-sentence streaming call."""

    def __init__(self, custom: Any | None, base: Any | None, store: VoiceStore, max_new_tokens: int = 2048) -> None:
        self.custom = custom
        self.base = base
        self.store = store
        self.max_new_tokens = max_new_tokens
        self._generating = threading.Lock()
        for wrapper in (custom, base):
            if wrapper is not None:
                check_api(wrapper)

    # -- what we offer -------------------------------------------------------------------
    def presets(self) -> list[str]:
        return list(self.custom.get_supported_speakers() or []) if self.custom else []

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
        supported = set(wrapper.get_supported_languages() or [])
        inputs = self._inputs(wrapper, text, choice, language_name(language, supported))
        decoder = FrameDecoder(decode=_decoder(wrapper))
        if inputs.get("voice_clone_prompt", {}).get("ref_code", [None])[0] is not None:
            decoder.prime(list(inputs["voice_clone_prompt"]["ref_code"][0]))

        def on_frame(frame: torch.Tensor | None) -> None:
            token.check()
            audio = decoder.push(frame) if frame is not None else None
            if audio is not None:
                emit(audio)

        kwargs = wrapper._merge_generate_kwargs(max_new_tokens=cap or max_frames(text, self.max_new_tokens))
        eos = wrapper.model.config.talker_config.codec_eos_token_id
        started = time.perf_counter()
        try:  # _generating: one generation at a time even if a cancelled one is still unwinding
            with self._generating, torch.inference_mode(), frame_hook(wrapper.model.talker, on_frame, eos):
                wrapper.model.generate(**inputs, **kwargs)
        except Cancelled:
            _LOG.info("cancelled after %d frames: %.40r", decoder.generated, text)
            raise
        tail = decoder.flush()
        if tail is not None:
            emit(tail)
        _LOG.debug("spoke %d frames (%.2f s of audio) in %.2f s", decoder.generated,
                   decoder.generated / 12.5, time.perf_counter() - started)

    def _inputs(self, wrapper: Any, text: str, choice: Choice, language: str) -> dict:
        input_ids = wrapper._tokenize_texts([wrapper._build_assistant_text(text)])
        if choice.speaker:
            return dict(input_ids=input_ids, instruct_ids=[None], languages=[language], speakers=[choice.speaker],
                        non_streaming_mode=True)
        assert choice.voice is not None, "a choice is a preset speaker or a cloned voice"
        item = self.clone_prompt(choice.voice)
        ref_ids = [wrapper._tokenize_texts([wrapper._build_ref_text(item.ref_text)])[0] if item.ref_text else None]
        prompt = wrapper._prompt_items_to_voice_clone_prompt([item])
        return dict(input_ids=input_ids, ref_ids=ref_ids, voice_clone_prompt=prompt, languages=[language],
                    non_streaming_mode=False)

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


@contextlib.contextmanager
def frame_hook(talker: torch.nn.Module, on_frame: Callable[[torch.Tensor | None], None], eos: int) -> Iterator[None]:
    """Call ``on_frame(frame[16])`` after every talker step (None on the prefill step).

    The hook sits on a shared module, so it acts only in the thread that installed it:
    a generation still unwinding in another thread can never feed (or cancel) this one.
    """
    owner = threading.get_ident()

    def hook(_module: Any, _args: Any, output: Any) -> None:
        if threading.get_ident() != owner:
            return
        codec_ids = output.hidden_states[1]
        if codec_ids is None or int(codec_ids[0, 0]) == eos:
            on_frame(None)
        else:
            on_frame(codec_ids[0].detach())

    handle = talker.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _decoder(wrapper: Any) -> Callable[[Sequence], np.ndarray]:
    decoder = wrapper.model.speech_tokenizer.model.decoder

    def decode(frames: Sequence) -> np.ndarray:
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
