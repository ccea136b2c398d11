"""The OpenAI speech API of a TTS engine: ``POST /v1/audio/speech``, ``GET /v1/audio/voices``, ``GET /v1/models``.

Every request runs as one Wyoming ``synthesize`` on the engine's own handler (engines.common.bridge), so
voices, limits, errors and cancellation are those of the Wyoming side; any Wyoming TTS engine of ours
(Qwen3-TTS, the fake) serves it. The audio is the engine's (Qwen3-TTS: 24 kHz s16le mono):

- ``response_format`` ``pcm`` (raw samples) or ``wav`` (the default when omitted; OpenAI's default mp3 needs
  an encoder we do not ship). ``pcm`` always streams with chunked transfer, the first bytes leaving as the
  first frames exist, as OpenAI's own API does; ``wav`` streams with ``stream: true`` or a ``stream_format``
  (its header then has unknown sizes, 0xFFFFFFFF, as vLLM-Omni's), else it is one file with exact sizes.
- ``stream_format: "sse"``: ``text/event-stream`` with ``speech.audio.delta`` events (``audio`` = base64) and
  a final ``speech.audio.done`` (``speech.audio.error`` after a failure once streaming began), as OpenAI and
  vLLM-Omni send them. ``stream_format: "audio"`` or ``stream: true`` alone: the raw byte stream.
- ``voice``: a preset speaker or a cloned voice name (or ``{"id": name}``); omitted: the engine's default.
  ``language`` (an extension, as vLLM-Omni's): passed to the engine. ``model`` is accepted as any name (one
  model per engine). ``speed`` other than 1.0 is refused; ``instructions`` is ignored.
- A failure before the first audio is an OpenAI JSON error (400 unknown voice, empty input, bad format; 413
  input over MAX_INPUT_CHARS); after it, the stream is cut (no final chunk), so the client sees an error.
"""
from __future__ import annotations

import base64
import contextlib
import json
import logging
import struct
import time
from typing import Any, AsyncIterator

from aiohttp import web
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.tts import Synthesize, SynthesizeVoice

from engines.common.bridge import run_request
from engines.common.handler import Engine
from engines.common.http import ApiError, json_body, model_list
from engines.protocol.errors import BAD_VOICE, UNKNOWN_VOICE

_LOG = logging.getLogger(__name__)
MAX_INPUT_CHARS = 4096  # OpenAI's documented limit for one speech request
FORMATS = ("pcm", "wav")
STREAM_FORMATS = ("audio", "sse")


def routes(engine: Engine, checkpoints: list[str] | None = None) -> list[web.RouteDef]:
    api = SpeechApi(engine, checkpoints or [])
    return [web.post("/v1/audio/speech", api.speech), web.get("/v1/audio/voices", api.voices),
            web.get("/v1/models", api.models)]


class SpeechApi:
    def __init__(self, engine: Engine, checkpoints: list[str]) -> None:
        self.engine = engine
        self.checkpoints = checkpoints  # as given (a hub id or a path): names a client may configure
        self.created = int(time.time())

    def _program(self) -> Any:
        programs = self.engine.info().tts
        if not programs:
            raise ApiError(500, "the engine describes no TTS program")
        return programs[0]

    async def models(self, _request: web.Request) -> web.Response:
        names = [self._program().name] + [c for c in self.checkpoints if c]
        return web.json_response(model_list(list(dict.fromkeys(names)), self.created))

    async def voices(self, _request: web.Request) -> web.Response:
        """The shape most OpenAI-compatible servers use (Speaches, Kokoro-FastAPI): objects with id and name."""
        voices = [{"id": v.name, "name": v.name, "description": v.description, "languages": v.languages or []}
                  for v in self._program().voices or []]
        return web.json_response({"object": "list", "voices": voices})

    async def speech(self, request: web.Request) -> web.StreamResponse:
        body = await json_body(request)
        text, voice, fmt, stream_format = _parse(body)
        streamed = fmt == "pcm" or stream_format is not None or body.get("stream") is True
        language = body.get("language") or None
        if language is not None and not isinstance(language, str):
            raise ApiError(400, "'language' must be a language name or code, e.g. 'en' or 'English'", "language")
        synthesize = Synthesize(text=text, voice=SynthesizeVoice(name=voice, language=language))
        started = time.perf_counter()
        async with contextlib.aclosing(run_request(self.engine, [synthesize.event()], str(request.remote))) as replies:
            start, first = await _first_audio(replies)
            if not streamed:
                try:
                    pcm = first + b"".join([chunk async for chunk in _audio(replies)])
                except _Failed as exc:
                    raise ApiError.from_event(exc.error) from None
                response: web.StreamResponse = web.Response(body=wav_header(start, len(pcm)) + pcm,
                                                            content_type="audio/wav")
            elif stream_format == "sse":
                response = await _sse(request, start, fmt, first, replies)
            else:
                response = await _raw(request, start, fmt, first, replies)
        _LOG.info("speech: %d characters in %.2f s (%s%s)", len(text), time.perf_counter() - started, fmt,
                  ", sse" if stream_format == "sse" else "")
        return response


def _parse(body: dict) -> tuple[str, str | None, str, str | None]:
    text = body.get("input")
    if not isinstance(text, str):
        raise ApiError(400, "'input' is required: the text to speak, as a string", "input")
    if not text.strip():
        raise ApiError(400, "'input' is empty: give the text to speak", "input")
    if len(text) > MAX_INPUT_CHARS:
        raise ApiError(413, f"'input' has {len(text)} characters; the limit is {MAX_INPUT_CHARS}: split the text "
                            "into several requests", "input", "input_too_long")
    voice = body.get("voice")
    if isinstance(voice, dict):
        voice = voice.get("id")
    if voice is not None and (not isinstance(voice, str) or len(voice) > 200):
        raise ApiError(400, "'voice' must be a voice name (GET /v1/audio/voices lists them)", "voice")
    if voice == "default":  # as vLLM-Omni: the engine's default speaker
        voice = None
    fmt = body.get("response_format") or "wav"
    if fmt not in FORMATS:
        raise ApiError(400, f"response_format {fmt!r} is not supported: use 'pcm' (raw 16-bit samples) or 'wav'",
                       "response_format")
    stream_format = body.get("stream_format")
    if stream_format is not None and stream_format not in STREAM_FORMATS:
        raise ApiError(400, f"stream_format {stream_format!r} is not supported: use 'audio' or 'sse'",
                       "stream_format")
    speed = body.get("speed", 1.0)
    if speed not in (None, 1, 1.0):
        raise ApiError(400, "'speed' is not supported by this engine: omit it or send 1.0", "speed")
    return text, voice or None, fmt, stream_format


async def _first_audio(replies: AsyncIterator[Event]) -> tuple[AudioStart, bytes]:
    """The engine's audio-start and first audio, or its error as an HTTP error (nothing is sent before the
    first audio exists, so a failure of the first frames is still a JSON error with its status)."""
    start = None
    async for event in replies:
        if Error.is_type(event.type):
            error = Error.from_event(event)
            if error.code == UNKNOWN_VOICE:
                error.text += " (GET /v1/audio/voices lists the voices)"
            raise ApiError.from_event(error, "voice" if error.code in (UNKNOWN_VOICE, BAD_VOICE) else None)
        if AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
        elif start is not None and (AudioChunk.is_type(event.type) or AudioStop.is_type(event.type)):
            return start, AudioChunk.from_event(event).audio if AudioChunk.is_type(event.type) else b""
    raise ApiError(500, "the engine answered without audio")


class _Failed(Exception):
    """The engine failed after its first audio."""

    def __init__(self, error: Error) -> None:
        super().__init__(f"{error.text} ({error.code})")
        self.error = error


async def _audio(replies: AsyncIterator[Event], first: bytes = b"") -> AsyncIterator[bytes]:
    if first:
        yield first
    async for event in replies:
        if AudioChunk.is_type(event.type):
            yield AudioChunk.from_event(event).audio
        elif Error.is_type(event.type):
            raise _Failed(Error.from_event(event))


async def _raw(request: web.Request, start: AudioStart, fmt: str, first: bytes,
               replies: AsyncIterator[Event]) -> web.StreamResponse:
    kind = f"audio/pcm;rate={start.rate}" if fmt == "pcm" else "audio/wav"
    response = web.StreamResponse(headers={"Content-Type": kind, "X-Accel-Buffering": "no"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    head = wav_header(start, None) if fmt == "wav" else b""
    try:
        async for pcm in _audio(replies, first):
            await response.write(head + pcm)
            head = b""
    except _Failed as exc:
        _LOG.warning("speech stream cut: %s", exc)
        _cut(request)
        return response
    await response.write_eof()
    return response


async def _sse(request: web.Request, start: AudioStart, fmt: str, first: bytes,
               replies: AsyncIterator[Event]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    samples = 0
    head = wav_header(start, None) if fmt == "wav" else b""
    try:
        async for pcm in _audio(replies, first):
            samples += len(pcm) // (start.width * start.channels)
            await response.write(sse("speech.audio.delta", {"audio": base64.b64encode(head + pcm).decode(),
                                                            "response_format": fmt}))
            head = b""
    except _Failed as exc:
        await response.write(sse("speech.audio.error", {"error": {"message": str(exc), "type": "server_error",
                                                                   "param": None, "code": None}}))
    else:
        await response.write(sse("speech.audio.done", {"audio_seconds": round(samples / start.rate, 3)}))
    await response.write_eof()
    return response


def sse(kind: str, data: dict) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


def wav_header(start: AudioStart, data_bytes: int | None) -> bytes:
    """A 44-byte PCM WAV header; ``None``: length unknown (streaming), sizes 0xFFFFFFFF."""
    block = start.width * start.channels
    riff = 0xFFFFFFFF if data_bytes is None else 36 + data_bytes
    data = 0xFFFFFFFF if data_bytes is None else data_bytes
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, start.channels, start.rate, start.rate * block, block, 8 * start.width) +
            b"data" + struct.pack("<I", data))


def _cut(request: web.Request) -> None:
    """End the connection without the final chunk: the client sees a broken stream, not a short clip."""
    if request.transport is not None:
        request.transport.close()
