"""The ASR engine and its per-connection handler (Wyoming ASR over the common runtime).

A request is ``transcribe`` → ``audio-start`` → ``audio-chunk``… → ``audio-stop``.
Chunks are converted at arrival (any rate/width/channels, bounded in length); at
``audio-stop`` the whole request goes to the model thread, which resamples to
16 kHz, asks the VAD whether anyone spoke (no: an empty transcript, no model call),
cuts audio over 30 s into windows and decodes them one by one. Text deltas stream
back as ``transcript-start`` / ``transcript-chunk``… / ``transcript-stop``, then the
final ``transcript``.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import AsrModel, AsrProgram, Attribution, Info

from engines.protocol.errors import Cancelled
from engines.common.handler import CancelToken, Connection, Engine, Handler

from .audio import AudioBuffer
from .segments import VAD_WINDOW, has_speech, speech_seconds, split_windows

_LOG = logging.getLogger("engines.asr")
# GLM-ASR-Nano-2512's model card: the 17 languages with a FLEURS WER of at most 20 %.
LANGUAGES = ["zh", "en", "it", "ca", "uk", "nl", "es", "de", "ja", "fr", "ru", "pt", "ms", "id", "no", "lt", "sl"]
ATTRIBUTION = Attribution(name="Zhipu AI (zai-org)", url="https://huggingface.co/zai-org/GLM-ASR-Nano-2512")
DEFAULT_MAX_SECONDS = 600.0


@dataclass(frozen=True)
class Final:
    """The last item a recognition emits: the whole transcript."""

    text: str


class AsrEngine(Engine):
    """GLM-ASR behind a Silero VAD gate. ``transcriber`` is an engines.asr.transcriber.Transcriber."""

    def __init__(self, transcriber: Any, vad: Any, model_name: str, version: str,
                 max_seconds: float = DEFAULT_MAX_SECONDS) -> None:
        super().__init__()
        self.transcriber, self.vad = transcriber, vad
        self.model_name, self.version = model_name, version
        self.max_seconds = max_seconds
        self.model_calls = 0
        self.requests = 0

    def info(self) -> Info:
        model = AsrModel(name=self.model_name, description="GLM-ASR-Nano-2512 (transformers)",
                         attribution=ATTRIBUTION, installed=True, version=self.version, languages=LANGUAGES)
        program = AsrProgram(name="sisyphus-asr", description="GLM-ASR speech recognition with a Silero VAD gate",
                             attribution=ATTRIBUTION, installed=True, version=self.version, models=[model],
                             supports_transcript_streaming=True)
        return Info(asr=[program])

    def new_handler(self, connection: Connection) -> Handler:
        return AsrHandler(self, connection)

    def on_cuda_oom(self) -> None:
        self.transcriber.free_memory()

    def recognize(self, emit: Callable[[Any], None], buffer: AudioBuffer, *, token: CancelToken) -> None:
        """Model thread: emit text deltas (str), then one Final."""
        self.requests += 1
        try:
            self._recognize(emit, buffer, token)
        except Cancelled:
            _LOG.info("request %d: cancelled, the client went away (model calls: %d)", self.requests,
                      self.model_calls)
            raise

    def _recognize(self, emit: Callable[[Any], None], buffer: AudioBuffer, token: CancelToken) -> None:
        start = time.perf_counter()
        audio = buffer.to_16k_mono()
        probs = self.vad.probabilities(audio)
        seconds = audio.size / 16000
        if not has_speech(probs):
            _LOG.info("request %d: no speech in %.2f s of audio; answered without a model call (model calls: %d)",
                      self.requests, seconds, self.model_calls)
            emit(Final(""))
            return
        texts = self._windows(emit, audio, probs, token)
        _LOG.info("request %d: %.2f s of audio (%.2f s speech) transcribed in %.0f ms (model calls: %d)",
                  self.requests, seconds, speech_seconds(probs), 1000 * (time.perf_counter() - start),
                  self.model_calls)
        emit(Final(" ".join(texts)))

    def _windows(self, emit: Callable[[Any], None], audio: np.ndarray, probs: np.ndarray,
                 token: CancelToken) -> list[str]:
        texts: list[str] = []
        for begin, end in split_windows(audio.size, probs):
            token.check()
            if not has_speech(probs[begin // VAD_WINDOW:-(-end // VAD_WINDOW)]):
                continue
            result = self.transcriber.transcribe(audio[begin:end], _Joiner(emit, bool(texts)), token)
            self.model_calls += 1
            _LOG.info("model call %d: %.2f s window -> %d tokens, prefill %.0f ms, %.1f ms/token%s",
                      self.model_calls, (end - begin) / 16000, result.new_tokens, 1000 * result.prefill_s,
                      1000 * result.decode_s / max(result.new_tokens - 1, 1),
                      " (repetition loop cut)" if result.looped else "")
            if result.text:
                texts.append(result.text)
        return texts


class _Joiner:
    """Passes deltas on, with a space before the first one of every window after the first."""

    def __init__(self, emit: Callable[[Any], None], separate: bool) -> None:
        self.emit, self.separate = emit, separate

    def __call__(self, delta: str) -> None:
        if self.separate:
            self.separate = False
            delta = " " + delta
        self.emit(delta)


class AsrHandler(Handler):
    engine: AsrEngine

    def __init__(self, engine: AsrEngine, connection: Connection) -> None:
        super().__init__(engine, connection)
        self.buffer: AudioBuffer | None = None
        self.language: str | None = None

    def reset(self) -> None:
        super().reset()
        self.buffer = None
        self.language = None

    async def handle_event(self, event: Event) -> None:
        if Transcribe.is_type(event.type):
            self.reset()
            # GLM-ASR detects the language itself and has no way to be told it; kept for the reply.
            self.language = Transcribe.from_event(event).language
        elif AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
            self.buffer = AudioBuffer(start.rate, start.width, start.channels, self.engine.max_seconds)
        elif self.buffer is None:
            # No audio-start, or the rest of a request that already got an error (e.g. too long).
            _LOG.debug("ignoring %s outside a request", event.type)
        elif AudioChunk.is_type(event.type):
            chunk = AudioChunk.from_event(event)
            self.buffer.add(chunk.audio, chunk.rate, chunk.width, chunk.channels)
        elif AudioStop.is_type(event.type):
            await self._answer(self.buffer)
            self.reset()
        else:
            _LOG.debug("ignoring event %s", event.type)

    async def _answer(self, buffer: AudioBuffer) -> None:
        streaming, final = False, Final("")
        # Run the stream to its end (no early return): that releases the model lock at once.
        async for item in self.stream_model(self.engine.recognize, buffer):
            if isinstance(item, Final):
                final = item
                continue
            if not streaming:
                streaming = True
                await self.send(TranscriptStart(language=self.language))
            await self.send(TranscriptChunk(text=item))
        if streaming:
            await self.send(TranscriptStop())
        await self.send(Transcript(text=final.text, language=self.language))
