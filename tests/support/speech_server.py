"""A fake OpenAI-compatible speech server (aiohttp) that answers the way vLLM-Omni documents.

- ``POST /v1/audio/speech``: ``stream_format: "audio"`` -> chunked raw bytes (``audio/pcm``, s16 mono
  24 kHz; or ``audio/wav`` whose header declares 0xFFFFFFFF sizes); ``stream: true`` alone or
  ``stream_format: "sse"`` -> ``text/event-stream`` with ``speech.audio.delta`` (base64) and
  ``speech.audio.done`` (vLLM-Omni >= 0.24); neither -> the whole WAV. The chunks are cut at odd
  byte counts, so they split samples (and the WAV header).
- ``GET /v1/audio/voices``: ``{"voices": [...], "uploaded_voices": [{...}]}`` (vLLM-Omni's shape);
  ``GET /v1/models``: the OpenAI list.
- ``POST /v1/audio/transcriptions``: multipart; ``stream=true`` -> ``transcript.text.delta`` events
  then ``transcript.text.done``; else ``{"text": ...}``.
- Errors: vLLM-Omni's ``{"error": {"message", "type", "param", "code": <int>}}``.
Knobs (``fail``): ``"500"`` every request answers 500; ``"slow"`` nothing is answered while it is set; ``refuse_stream``:
a 400 for the ``stream`` field, as OpenAI answers unknown fields. ``sse_only``: streams SSE whatever was asked.
"""
from __future__ import annotations

import asyncio
import base64
import json
import struct
from dataclasses import dataclass, field

import numpy as np
from aiohttp import web

from tests.support.loop_thread import LoopThread

RATE = 24000
CUTS = (4801, 1, 2, 3333, 7)  # chunk sizes cycled through: odd, so samples and headers split


VLLM_LANGUAGES = ("Auto", "Chinese", "English", "Japanese", "Korean", "German", "French", "Russian", "Portuguese",
                  "Spanish", "Italian")


def speech_pcm(text: str, index: int) -> bytes:
    """Deterministic audio for the ``index``-th request: 20 ms of tone per character (at least 0.1 s)."""
    n = max(int(0.1 * RATE), int(0.02 * RATE) * len(text.strip()))
    t = np.arange(n) / RATE
    tone = 0.2 * np.sin(2 * np.pi * (220 + 55 * index) * t) + index / 1000
    return (tone * 32767).astype("<i2").tobytes()


def wav_header(rate: int = RATE, size: int = 0xFFFFFFFF) -> bytes:
    riff = 0xFFFFFFFF if size == 0xFFFFFFFF else 36 + size
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
            + b"data" + struct.pack("<I", size))


@dataclass
class Spoken:
    body: dict
    headers: dict
    audio: bytes  # the PCM samples sent (whatever the wire form)
    form: str  # "pcm", "wav-stream", "sse", "wav"
    cut: bool = False  # the client hung up before the end


@dataclass
class SpeechServer:
    transcript: str = "What is the weather in Paris?"
    voices: tuple[str, ...] = ("aiden", "ryan", "vivian")
    uploaded: tuple[str, ...] = ("grandpa",)
    tts_model: str = "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice"
    asr_model: str = "zai-org/GLM-ASR-Nano-2512"
    stream_transcript: bool = True
    api_key: str = ""
    fail: str = ""
    refuse_stream: bool = False
    sse_only: bool = False
    whole_wav: bool = False  # a server that ignores the streaming fields: one WAV with its true sizes
    json_200: bool = False  # answers 200 with a JSON body instead of audio
    cut_after: int | None = None  # drops the connection after this many pieces of a speech stream
    empty_done: bool = False  # Speaches: transcript.text.done with an empty text after its deltas
    drop_reused: bool = False  # a request on a kept-alive connection is dropped unanswered (an idle timeout's race)
    chunk_delay_s: float = 0.005
    spoken: list[Spoken] = field(default_factory=list)
    transcriptions: list[dict] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_get("/v1/models", self.models)
        self.app.router.add_get("/v1/audio/voices", self.list_voices)
        self.app.router.add_post("/v1/audio/speech", self.speech)
        self.app.router.add_post("/v1/audio/transcriptions", self.transcription)
        self.runner: web.AppRunner | None = None
        self._used: set[int] = set()  # the connections (transports) that served a speech request

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    # -- endpoints -------------------------------------------------------------------
    async def _gate(self, request: web.Request) -> web.Response | None:
        while self.fail == "slow":  # nothing is answered until the knob changes
            await asyncio.sleep(0.05)
        if self.fail == "500":
            return _error(500, "EngineDeadError: the engine core died", "InternalServerError")
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided", "AuthenticationError")
        return None

    async def models(self, request: web.Request) -> web.StreamResponse:
        if refused := await self._gate(request):
            return refused
        data = [{"id": m, "object": "model", "owned_by": "vllm-omni"} for m in (self.tts_model, self.asr_model)]
        return web.json_response({"object": "list", "data": data})

    async def list_voices(self, request: web.Request) -> web.StreamResponse:
        if refused := await self._gate(request):
            return refused
        uploaded = [{"name": n, "consent": "yes", "created_at": 1764800000, "file_size": 96000,
                     "mime_type": "audio/wav", "embedding_source": "audio", "embedding_dim": 2048,
                     "speaker_description": "a warm older voice"} for n in self.uploaded]
        return web.json_response({"voices": sorted(self.voices), "uploaded_voices": uploaded})

    async def speech(self, request: web.Request) -> web.StreamResponse:
        if refused := await self._gate(request):
            return refused
        body = await request.json()
        if self.drop_reused and id(request.transport) in self._used:
            request.transport.close()
            return web.Response()
        self._used.add(id(request.transport))
        if self.refuse_stream and "stream" in body:
            return _error(400, "Unrecognized request argument supplied: stream", "invalid_request_error", "stream")
        if not str(body.get("input", "")).strip():
            return _error(400, "input cannot be empty", "BadRequestError", "input")
        if body.get("model") not in (None, self.tts_model):
            return _error(404, f"The model `{body['model']}` does not exist.", "NotFoundError", "model")
        voice = body.get("voice")
        if voice is not None and voice.lower() not in self.voices + self.uploaded:
            return _error(400, f"Invalid speaker '{voice}'. Supported: {', '.join(self.voices)}", "BadRequestError",
                          "voice")
        language = body.get("language")
        if language is not None and language not in VLLM_LANGUAGES:  # as vLLM-Omni: names, not codes
            return _error(400, f"Invalid language '{language}'. Supported: {', '.join(VLLM_LANGUAGES)}",
                          "BadRequestError", "language")
        if self.json_200:
            return web.json_response({"error": {"message": "model is still loading", "code": 200}})
        fmt = body.get("response_format", "wav")
        pcm = speech_pcm(body["input"], len(self.spoken))
        stream_format = body.get("stream_format")
        if self.whole_wav:
            stream_format = None
            body = {k: v for k, v in body.items() if k != "stream"}
        sse = self.sse_only or stream_format == "sse" or (body.get("stream") and stream_format is None)
        record = Spoken(await request.json(), dict(request.headers), pcm, "sse" if sse else "wav")
        self.spoken.append(record)
        if sse:
            return await self._sse(request, record, fmt)
        if stream_format == "audio":
            record.form = "pcm" if fmt == "pcm" else "wav-stream"
            wire = pcm if fmt == "pcm" else wav_header() + pcm
            return await self._chunked(request, record, wire, "audio/pcm" if fmt == "pcm" else "audio/wav")
        return web.Response(body=wav_header(size=len(pcm)) + pcm, content_type="audio/wav")

    async def _chunked(self, request: web.Request, record: Spoken, wire: bytes, kind: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": kind})
        await response.prepare(request)
        try:
            for n, piece in enumerate(_pieces(wire)):
                if n == self.cut_after:
                    request.transport.close()  # mid-body: no final chunk
                    return response
                await response.write(piece)
                await asyncio.sleep(self.chunk_delay_s)
            await response.write_eof()
        except ConnectionError:  # aiohttp's ClientConnectionResetError: the client hung up
            record.cut = True
        return response

    async def _sse(self, request: web.Request, record: Spoken, fmt: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        wire = record.audio if fmt == "pcm" else wav_header() + record.audio
        try:
            for piece in _pieces(wire):
                event = {"type": "speech.audio.delta", "audio": base64.b64encode(piece).decode(), "response_format": fmt}
                await response.write(f"event: speech.audio.delta\ndata: {json.dumps(event)}\n\n".encode())
                await asyncio.sleep(self.chunk_delay_s)
            done = {"type": "speech.audio.done", "usage": {"input_tokens": 9, "output_tokens": 40, "total_tokens": 49}}
            await response.write(f"event: speech.audio.done\ndata: {json.dumps(done)}\n\n".encode())
            await response.write_eof()
        except ConnectionError:
            record.cut = True
        return response

    async def transcription(self, request: web.Request) -> web.StreamResponse:
        if refused := await self._gate(request):
            return refused
        form = await request.post()
        upload = form.get("file")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if not isinstance(upload, web.FileField):
            return _error(400, "file is required", "BadRequestError", "file")
        fields["file"] = upload.file.read()
        self.transcriptions.append(fields)
        if self.refuse_stream and "stream" in fields:
            return _error(400, "Unrecognized request argument supplied: stream", "invalid_request_error", "stream")
        if fields.get("stream") == "true" and self.stream_transcript:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for word in self.transcript.split(" "):
                delta = {"type": "transcript.text.delta", "delta": word + " "}
                await response.write(f"data: {json.dumps(delta)}\n\n".encode())
            done = {"type": "transcript.text.done", "text": "" if self.empty_done else self.transcript}
            await response.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
            await response.write_eof()
            return response
        return web.json_response({"text": self.transcript})


def _pieces(data: bytes):
    pos, n = 0, 0
    while pos < len(data):
        size = CUTS[n % len(CUTS)]
        yield data[pos:pos + size]
        pos, n = pos + size, n + 1


def _error(status: int, message: str, kind: str, param: str | None = None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": kind, "param": param, "code": status}},
                             status=status)


class ThreadedSpeechServer:
    """The fake server on its own loop thread; ``stop``/``start`` again keep its port (down, then back)."""

    def __init__(self, **kw) -> None:
        self.thread = LoopThread()
        self.server = SpeechServer(**kw)
        self.thread.run(self.server.start())

    def down(self) -> None:
        self.thread.run(self.server.stop())

    def up(self) -> None:
        self.thread.run(self.server.start())

    def close(self) -> None:
        self.thread.run(self.server.stop())
        self.thread.stop()
