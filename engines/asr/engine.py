"""The ASR engine and its per-connection handler (Wyoming ASR over the common runtime).

A request is ``transcribe`` → ``audio-start`` → ``audio-chunk``… → ``audio-stop``.
Chunks are converted at arrival (any rate/width/channels, bounded in length) and
heard by the VAD; each pause after a couple of seconds of speech closes a segment
(engines/asr/live.py), which the model transcribes at once, while the user is still
speaking, so ``transcript-start`` / ``transcript-chunk`` partials arrive before
``audio-stop`` and only the tail is left to decode after it. Segments without speech
never reach the model (LLM-based ASR invents text for silence). The reply ends with
the final ``transcript`` and then ``transcript-stop`` (when partials were sent), the
order upstream Wyoming servers use. Events out of order get an ``error`` event.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import AsrModel, AsrProgram, Attribution, Info

from daemon import __version__ as SISYPHUS_VERSION
from engines.common.errors import BAD_REQUEST, Cancelled, EngineError
from engines.common.handler import CancelToken, Connection, Engine, Handler

from .audio import AudioBuffer
from .live import Segment, Utterance

_LOG = logging.getLogger("engines.asr")
# GLM-ASR-Nano-2512's model card: the 17 languages with a FLEURS WER of at most 20 %.
LANGUAGES = ["zh", "en", "it", "ca", "uk", "nl", "es", "de", "ja", "fr", "ru", "pt", "ms", "id", "no", "lt", "sl"]
ATTRIBUTION = Attribution(name="Zhipu AI (zai-org)", url="https://huggingface.co/zai-org/GLM-ASR-Nano-2512")
DEFAULT_MAX_SECONDS = 600.0


@dataclass(frozen=True)
class WindowText:
    """The last item a segment's transcription emits: its whole text."""

    text: str


class AsrEngine(Engine):
    """GLM-ASR behind a Silero VAD gate. ``transcriber`` is an engines.asr.transcriber.Transcriber.

    ``live``: transcribe segments while the user speaks (off: everything after audio-stop)."""

    def __init__(self, transcriber: Any, vad: Any, model_name: str, model_version: str | None,
                 max_seconds: float = DEFAULT_MAX_SECONDS, live: bool = True, description: str = "") -> None:
        super().__init__()
        self.transcriber, self.vad = transcriber, vad
        self.model_name, self.model_version = model_name, model_version
        self.description = description or "GLM-ASR-Nano-2512 (transformers)"
        self.max_seconds = max_seconds
        self.live = live
        self.model_calls = 0
        self.requests = 0

    def info(self) -> Info:
        model = AsrModel(name=self.model_name, description=self.description, attribution=ATTRIBUTION,
                         installed=True, version=self.model_version, languages=LANGUAGES)
        program = AsrProgram(name="sisyphus-asr", description="GLM-ASR speech recognition with a Silero VAD gate",
                             attribution=ATTRIBUTION, installed=True, version=SISYPHUS_VERSION, models=[model],
                             supports_transcript_streaming=True)
        return Info(asr=[program])

    def new_handler(self, connection: Connection) -> Handler:
        return AsrHandler(self, connection)

    def on_cuda_oom(self) -> None:
        self.transcriber.free_memory()

    def new_utterance(self, rate: int, width: int, channels: int) -> Utterance:
        self.requests += 1
        features = getattr(self.transcriber, "new_features", None) if self.live else None
        return Utterance(AudioBuffer(rate, width, channels, self.max_seconds), self.vad.stream(), self.live, features)

    def transcribe_segment(self, emit: Callable[[Any], None], segment: Segment, separate: bool, *,
                           token: CancelToken) -> None:
        """Model thread: emit the segment's text deltas (str), then one WindowText."""
        try:
            result = self.transcriber.transcribe(segment.audio, _Joiner(emit, separate), token,
                                                 features=segment.features)
        except Cancelled:
            _LOG.info("request %d: cancelled, the client went away (model calls: %d)", self.requests,
                      self.model_calls)
            raise
        self.model_calls += 1
        _LOG.info("model call %d: %.2f s window -> %d tokens, prefill %.0f ms, %.1f ms/token%s",
                  self.model_calls, segment.seconds, result.new_tokens, 1000 * result.prefill_s,
                  1000 * result.decode_s / max(result.new_tokens - 1, 1),
                  " (repetition loop cut)" if result.looped else "")
        emit(WindowText(result.text))


class _Joiner:
    """Passes deltas on, with a space before the first one of every window after the first."""

    def __init__(self, emit: Callable[[Any], None], separate: bool) -> None:
        self.emit, self.separate = emit, separate

    def __call__(self, delta: str) -> None:
        if self.separate:
            self.separate = False
            delta = " " + delta
        self.emit(delta)


_END = object()


class AsrHandler(Handler):
    """One connection. Segments go through a queue to a task that transcribes them in order."""

    engine: AsrEngine

    def __init__(self, engine: AsrEngine, connection: Connection) -> None:
        super().__init__(engine, connection)
        self.language: str | None = None
        self.ignore_rest = False  # the request failed: drop its remaining events quietly
        self._clear()

    def _clear(self) -> None:
        worker = getattr(self, "worker", None)
        if worker is not None and not worker.done():
            worker.cancel()
        self.utterance: Utterance | None = None
        self.worker: asyncio.Task | None = None
        self.segments: asyncio.Queue = asyncio.Queue()
        self.texts: list[str] = []
        self.streaming = False
        self.calls = 0  # model calls of this request

    def reset(self) -> None:  # after an error or a cancel (the server calls it)
        super().reset()
        self._clear()
        self.language = None
        self.ignore_rest = True

    def cancel(self) -> None:
        super().cancel()
        if self.worker is not None:
            self.worker.cancel()

    async def handle_event(self, event: Event) -> None:
        if Transcribe.is_type(event.type):
            self.reset()
            self.ignore_rest = False
            # GLM-ASR detects the language itself and has no way to be told it; kept for the reply.
            self.language = Transcribe.from_event(event).language
        elif AudioStart.is_type(event.type):
            start, language = AudioStart.from_event(event), self.language
            self.reset()
            self.language, self.ignore_rest = language, False
            self.utterance = self.engine.new_utterance(start.rate, start.width, start.channels)
            self.worker = asyncio.create_task(self._transcribe_segments())
        elif AudioChunk.is_type(event.type) or AudioStop.is_type(event.type):
            await self._audio(event)
        else:
            _LOG.debug("ignoring event %s", event.type)

    async def _audio(self, event: Event) -> None:
        if self.utterance is None:
            if self.ignore_rest:
                return
            raise EngineError(f"{event.type} without audio-start: send transcribe, audio-start, then audio-chunk "
                              "events and audio-stop", BAD_REQUEST)
        assert self.worker is not None, "audio-start starts the worker with the utterance"
        if self.worker.done():  # a segment failed while the user was speaking: report it now
            self.worker.result()
        if AudioChunk.is_type(event.type):
            chunk = AudioChunk.from_event(event)
            for segment in self.utterance.add(chunk.audio, chunk.rate, chunk.width, chunk.channels):
                self.segments.put_nowait(segment)
            return
        stopped = time.perf_counter()
        utterance = self.utterance
        for segment in utterance.finish():
            self.segments.put_nowait(segment)
        self.segments.put_nowait(_END)
        await self.worker
        text = " ".join(self.texts)
        self._log(utterance, stopped)
        await self.send(Transcript(text=text, language=self.language))
        if self.streaming:
            await self.send(TranscriptStop())
        self._clear()

    async def _transcribe_segments(self) -> None:
        while (segment := await self.segments.get()) is not _END:
            if not segment.speech:
                continue
            self.calls += 1
            stream = self.stream_model(self.engine.transcribe_segment, segment, bool(self.texts))
            async with contextlib.aclosing(stream):
                async for item in stream:
                    if isinstance(item, WindowText):
                        if item.text:
                            self.texts.append(item.text)
                        continue
                    if not self.streaming:
                        self.streaming = True
                        await self.send(TranscriptStart(language=self.language))
                    await self.send(TranscriptChunk(text=item))

    def _log(self, utterance: Utterance, stopped: float) -> None:
        seconds = utterance.samples / 16000
        if not self.calls:
            _LOG.info("request %d: no speech in %.2f s of audio; answered without a model call (model calls: %d)",
                      self.engine.requests, seconds, self.engine.model_calls)
            return
        _LOG.info("request %d: %.2f s of audio, transcribed %.0f ms after audio-stop (model calls: %d)",
                  self.engine.requests, seconds, 1000 * (time.perf_counter() - stopped), self.engine.model_calls)
