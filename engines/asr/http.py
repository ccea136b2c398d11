"""The OpenAI transcription API of an ASR engine: ``POST /v1/audio/transcriptions`` and ``GET /v1/models``.

The uploaded file (multipart field ``file``) is decoded here (PCM WAV with the standard library; any
format soundfile reads where it is installed) and sent, in 100 ms chunks as a microphone would, through
the engine's own Wyoming handler (engines.common.bridge): the same VAD, live segments, limits, errors and
cancellation as the Wyoming side, and the same text for the same audio. ``response_format``: ``json``
(default; ``{"text", "usage": {"type": "duration", "seconds"}}``), ``text`` (plain text) or ``verbose_json``
(``task``, ``language``, ``duration``, ``text``). ``stream=true``: ``text/event-stream`` with a
``transcript.text.delta`` event per piece the engine sends while it decodes, then ``transcript.text.done``
with the whole text, as OpenAI's API sends them. ``model`` is accepted as any name; ``language`` is passed
to the engine (GLM-ASR detects the language itself). Audio longer than the engine's limit is a 413.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from dataclasses import dataclass
from typing import AsyncIterator

from aiohttp import web
from wyoming.asr import Transcribe, Transcript, TranscriptChunk
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event

from engines.common.bridge import run_request
from engines.common.handler import Engine
from engines.common.http import ApiError, model_list
from engines.protocol.wav import WavError, parse_wav

_LOG = logging.getLogger(__name__)
FORMATS = ("json", "text", "verbose_json")
CHUNK_SECONDS = 0.1
_TRUE = ("true", "1", "yes")


def routes(engine: Engine) -> list[web.RouteDef]:
    api = TranscriptionApi(engine)
    return [web.post("/v1/audio/transcriptions", api.transcriptions), web.get("/v1/models", api.models)]


@dataclass(frozen=True)
class Pcm:
    data: bytes
    rate: int
    width: int
    channels: int

    @property
    def seconds(self) -> float:
        return len(self.data) / (self.rate * self.width * self.channels)

    def events(self, language: str | None) -> list[Event]:
        """What a Wyoming client sends for this audio: transcribe, audio-start, 100 ms chunks, audio-stop."""
        step = max(1, int(self.rate * CHUNK_SECONDS)) * self.width * self.channels
        chunks = [AudioChunk(rate=self.rate, width=self.width, channels=self.channels,
                             audio=self.data[i:i + step]).event() for i in range(0, len(self.data), step)]
        return [Transcribe(language=language).event(),
                AudioStart(rate=self.rate, width=self.width, channels=self.channels).event(), *chunks,
                AudioStop().event()]


class TranscriptionApi:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.created = int(time.time())

    async def models(self, _request: web.Request) -> web.Response:
        names = [m.name for program in self.engine.info().asr for m in program.models or []]
        return web.json_response(model_list(names, self.created))

    async def transcriptions(self, request: web.Request) -> web.StreamResponse:
        if not request.content_type.startswith("multipart/"):
            raise ApiError(400, "send the audio as multipart/form-data with the field 'file'", "file")
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            raise ApiError(400, "'file' is required: the audio to transcribe, as a multipart file", "file")
        fmt = str(form.get("response_format") or "json")
        if fmt not in FORMATS:
            raise ApiError(400, f"response_format {fmt!r} is not supported: use 'json', 'text' or 'verbose_json'",
                           "response_format")
        language = str(form.get("language") or "") or None
        pcm = decode(upload.file.read(), upload.filename)
        limit = getattr(self.engine, "max_seconds", None)
        if limit is not None and pcm.seconds > limit:
            raise ApiError(413, f"the audio is {pcm.seconds:.1f} s long; this engine takes at most {limit:g} s per "
                                "request: split the recording", "file", "audio_too_long")
        started = time.perf_counter()
        async with contextlib.aclosing(run_request(self.engine, pcm.events(language), str(request.remote))) as replies:
            if str(form.get("stream") or "").lower() in _TRUE:
                response = await _sse(request, replies)
            else:
                text = await _text(replies)
                response = _answer(fmt, text, language, pcm.seconds)
        _LOG.info("transcription: %.2f s of audio in %.2f s", pcm.seconds, time.perf_counter() - started)
        return response


def decode(data: bytes, filename: str | None) -> Pcm:
    """The upload as integer PCM; a 400 naming the problem when it cannot be read."""
    if not data:
        raise ApiError(400, "'file' is empty", "file")
    try:
        wav = parse_wav(data)  # the plain and the extensible header (Python's wave reads only the first)
        return Pcm(wav.data, wav.rate, wav.width, wav.channels)
    except WavError as exc:
        why = str(exc)
    try:
        import soundfile  # not in every engine venv: WAV is enough for every client we know
    except ImportError:
        raise ApiError(400, f"could not read {filename or 'the file'} as PCM WAV ({why}); send 16-bit PCM WAV",
                       "file") from None
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="int16", always_2d=True)
    except Exception as exc:  # soundfile raises its own LibsndfileError, RuntimeError, TypeError
        raise ApiError(400, f"could not read {filename or 'the file'} as audio ({exc}); send WAV, FLAC or OGG",
                       "file") from None
    return Pcm(samples.tobytes(), int(rate), 2, samples.shape[1])


async def _text(replies: AsyncIterator[Event]) -> str:
    async for event in replies:
        if Error.is_type(event.type):
            raise ApiError.from_event(Error.from_event(event), "file")
        if Transcript.is_type(event.type):
            return Transcript.from_event(event).text
    raise ApiError(500, "the engine answered without a transcript")


def _answer(fmt: str, text: str, language: str | None, seconds: float) -> web.Response:
    if fmt == "text":
        return web.Response(text=text, content_type="text/plain")
    if fmt == "verbose_json":
        return web.json_response({"task": "transcribe", "language": language or "", "duration": round(seconds, 3),
                                  "text": text, "segments": []})
    return web.json_response({"text": text, "usage": {"type": "duration", "seconds": round(seconds, 3)}})


async def _sse(request: web.Request, replies: AsyncIterator[Event]) -> web.StreamResponse:
    """Deltas as the engine decodes; an error before the first byte is still an HTTP error."""
    response: web.StreamResponse | None = None
    sent = False

    async def send(data: dict) -> None:
        nonlocal response
        if response is None:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                                   "X-Accel-Buffering": "no"})
            await response.prepare(request)
        await response.write(f"data: {json.dumps(data)}\n\n".encode())

    async for event in replies:
        if Error.is_type(event.type):
            error = ApiError.from_event(Error.from_event(event), "file")
            if response is None:
                raise error
            await send({"type": "error", **error.body()})
            break
        if TranscriptChunk.is_type(event.type):
            sent = True
            await send({"type": "transcript.text.delta", "delta": TranscriptChunk.from_event(event).text})
        elif Transcript.is_type(event.type):
            text = Transcript.from_event(event).text
            if text and not sent:  # an engine that does not stream: the whole text as one delta
                await send({"type": "transcript.text.delta", "delta": text})
            await send({"type": "transcript.text.done", "text": text})
            break
    if response is None:
        raise ApiError(500, "the engine answered without a transcript")
    await response.write_eof()
    return response
