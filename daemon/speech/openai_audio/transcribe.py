"""Speech to text over ``POST {uri}/audio/transcriptions``: the utterance is sent at key-up.

The blocks are buffered while the key is held and sent as one 16-bit mono WAV (multipart, as the
OpenAI SDK sends it) with ``response_format: json`` and ``stream: true``. A server that streams
answers with SSE ``transcript.text.delta`` events (shown as the live transcript) and a
``transcript.text.done``; one that does not (``whisper-1``, most local servers) ignores ``stream``
and answers JSON; one that refuses the field is asked again without it. Speaches' done event may
carry an empty text after its deltas: the deltas are the transcript then.
"""
from __future__ import annotations

import io
import wave
from typing import AsyncIterator, Callable

import aiohttp

from daemon.errors import EngineRequestError

from . import http
from .decode import DecodeError, SseParser, content_format
from .errors import HttpStatusError, mentions, message_of
from .options import HttpOptions

PATH = "/audio/transcriptions"


async def transcribe(name: str, uri: str, blocks: AsyncIterator[bytes], *, rate: int = 16000,
                     language: str | None = None, on_partial: Callable[[str], None] | None = None,
                     options: HttpOptions) -> str:
    pcm = b"".join([block async for block in blocks])
    if not pcm:
        return ""  # nothing was heard: no request
    audio = wav_bytes(pcm, rate)
    async with http.session(options) as session:
        try:
            return await _send(session, name, uri, audio, options.model, language, True, on_partial)
        except HttpStatusError as exc:
            if not mentions(exc, "stream"):
                raise
            return await _send(session, name, uri, audio, options.model, language, False, on_partial)


def wav_bytes(pcm: bytes, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return out.getvalue()


async def _send(session: aiohttp.ClientSession, name: str, uri: str, audio: bytes, model: str,
                language: str | None, stream: bool, on_partial) -> str:
    form = aiohttp.FormData()
    form.add_field("file", audio, filename="speech.wav", content_type="audio/wav")
    for key, value in (("model", model), ("response_format", "json"), ("language", language or ""),
                       ("stream", "true" if stream else "")):
        if value:
            form.add_field(key, value)
    async with http.request(session, name, uri, "POST", PATH, data=form) as response:
        kind = content_format(response.headers.get("Content-Type", ""))[0]
        try:
            if kind == "text/event-stream":
                return await _from_events(response, on_partial)
            body = await response.read()
            return _from_body(kind, body)
        except DecodeError as exc:
            raise EngineRequestError(f"{name} engine at {http.url(uri, PATH)}: {exc}", "engine_protocol") from None


def _from_body(kind: str, body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    if kind != "application/json" and not text.lstrip().startswith("{"):
        return text.strip()  # response_format text, or a server that answers plain text anyway
    import json

    try:
        value = json.loads(text)
    except ValueError:
        raise DecodeError(f"the transcription is not valid JSON: {text[:200]!r}") from None
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        raise DecodeError(f"the transcription has no text field: {text[:200]!r}")
    return value["text"]


async def _from_events(response: aiohttp.ClientResponse, on_partial) -> str:
    parser, partial = SseParser(), ""
    done: str | None = None
    async for piece in response.content.iter_any():
        for event in parser.feed(piece):
            if event.data.strip() == "[DONE]":
                continue
            value = event.json()
            kind = value.get("type", "")
            if kind == "transcript.text.delta" and isinstance(value.get("delta"), str):
                partial += value["delta"]
                if on_partial:
                    on_partial(partial)
            elif kind == "transcript.text.done":
                done = value.get("text") if isinstance(value.get("text"), str) else ""
            elif kind.endswith("error"):
                raise DecodeError(f"the server failed: {message_of(value) or 'no details'}")
    if done is None and not partial:
        raise DecodeError("the transcript stream ended without a transcript.text.done event")
    return done if done and done.strip() else partial
