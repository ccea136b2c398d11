"""Text to speech over ``POST {uri}/audio/speech``: one request per text chunk, audio played as it arrives.

What is sent works with old and new vLLM-Omni and with OpenAI: ``response_format: "pcm"`` and
``stream_format: "audio"`` (raw bytes as they are decoded: vLLM-Omni >= 0.24 needs it, since
``stream: true`` alone now means SSE there), plus ``stream: true`` (vLLM-Omni 0.16-0.22 streams only
with it). A server that refuses the ``stream`` field (OpenAI refuses unknown fields) is asked again
without it, and not sent it again in that turn. What comes back is read by its content type: raw PCM
(24 kHz s16 mono unless ``;rate=`` says otherwise), WAV (header parsed from the stream), or SSE
with base64 ``speech.audio.delta`` events, whichever the server chose.
"""
from __future__ import annotations

import logging
from typing import AsyncIterator

import aiohttp

from daemon.errors import EngineRequestError
from engines.protocol.languages import english_name
from daemon.speech.common import Audio

from . import http
from .decode import DecodeError, Format, PcmStream, SseParser, WavStream, b64_audio, content_format, pcm_format
from .errors import HttpStatusError, error_message, mentions, message_of
from .options import HttpOptions

_LOG = logging.getLogger(__name__)
WAV_TYPES = {"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"}
SNIFF_TYPES = {"", "application/octet-stream", "binary/octet-stream"}


async def synthesize(name: str, uri: str, texts: AsyncIterator[str], *, voice: str | None,
                     language: str | None = None, options: HttpOptions) -> AsyncIterator[Audio]:
    body: dict = {"input": "", "response_format": "pcm", "stream_format": "audio", "stream": True}
    if options.model:
        body["model"] = options.model
    if voice:
        body["voice"] = voice
    if language:
        body["language"] = english_name(language)  # vLLM-Omni wants names, not codes; OpenAI ignores it
    async with http.session(options) as session:
        async for text in texts:
            if not text.strip():
                continue  # servers refuse empty input; whitespace is no speech
            body["input"] = text
            async for audio in _chunk(session, name, uri, body):
                yield audio


async def _chunk(session: aiohttp.ClientSession, name: str, uri: str, body: dict) -> AsyncIterator[Audio]:
    """One chunk's request, asked once more when the server refused ``stream`` (then left out for the
    turn), or closed the kept-alive connection before any audio (a server's idle timeout between chunks)."""
    for last in (False, True):
        spoke = False
        try:
            async for audio in _speak(session, name, uri, body):
                spoke = True
                yield audio
            return
        except HttpStatusError as exc:
            if last or not (mentions(exc, "stream") and body.pop("stream", None)):
                raise
            _LOG.info("%s engine at %s refused `stream`; asking without it", name, uri)
        except EngineRequestError as exc:
            if last or spoke or exc.code != "engine_died":
                raise
            _LOG.info("%s engine at %s closed the connection before answering; asking again", name, uri)


async def _speak(session: aiohttp.ClientSession, name: str, uri: str, body: dict) -> AsyncIterator[Audio]:
    async with http.request(session, name, uri, "POST", "/audio/speech", json=body) as response:
        content_type = response.headers.get("Content-Type", "")
        if _is_text(content_type):  # a 200 with an error or a page instead of audio
            said = error_message(await response.content.read(http.MAX_ERROR_BODY)) or "empty"
            raise EngineRequestError(f"{name} engine at {http.url(uri, '/audio/speech')} answered "
                                     f"{content_format(content_type)[0]} instead of audio: {said}", "engine_protocol")
        try:
            decoder = SpeechBody(content_type)
            async for piece in response.content.iter_any():
                for audio in decoder.feed(piece):
                    yield audio
            for audio in decoder.end():
                yield audio
        except DecodeError as exc:
            raise EngineRequestError(f"{name} engine at {http.url(uri, '/audio/speech')}: {exc}",
                                     "engine_protocol") from None
        except _ServerError as exc:
            raise EngineRequestError(f"{name} engine at {http.url(uri, '/audio/speech')} failed mid-stream: "
                                     f"{exc}", "engine_error") from None


class _ServerError(Exception):
    """A ``speech.audio.error`` event: the server failed after it had answered 200."""


class SpeechBody:
    """A speech response body in pieces -> Audio, for whichever form the content type names."""

    def __init__(self, content_type: str) -> None:
        self.kind, params = content_format(content_type)
        self._sse = SseParser() if self.kind == "text/event-stream" else None
        self._raw: PcmStream | WavStream | _Sniff | None = None
        if self.kind in WAV_TYPES:
            self._raw = WavStream()
        elif self.kind in SNIFF_TYPES:
            self._raw = _Sniff(Format())
        elif self.kind in ("audio/pcm", "audio/l16", "audio/raw", "audio/x-raw"):
            self._raw = PcmStream(pcm_format(params))
        elif self._sse is None:
            raise DecodeError(_not_playable(self.kind))
        self.done = False

    def feed(self, piece: bytes) -> list[Audio]:
        if self._sse is not None:
            return [audio for event in self._sse.feed(piece) for audio in self._event(event)]
        assert self._raw is not None
        return _audio(self._raw, self._raw.feed(piece))

    def end(self) -> list[Audio]:
        if self._sse is not None:
            return [audio for event in self._sse.end() for audio in self._event(event)]
        if self._raw is not None and self._raw.pending:
            _LOG.debug("speech body ended inside a frame; %d bytes dropped", self._raw.pending)
        return []

    def _event(self, event) -> list[Audio]:
        if event.data.strip() == "[DONE]":
            self.done = True
            return []
        value = event.json()
        kind = value.get("type", "")
        if kind.endswith(".delta"):
            if self._raw is None:  # the first delta names the inner format (vLLM-Omni: response_format)
                self._raw = WavStream() if value.get("response_format") == "wav" else _Sniff(Format())
            return _audio(self._raw, self._raw.feed(b64_audio(value.get("audio"))))
        if kind.endswith(".error") or kind == "error":
            raise _ServerError(message_of(value) or "no details")
        if kind.endswith(".done"):
            self.done = True
        return []


class _Sniff:
    """Raw audio of unknown kind: a WAV if it starts with a RIFF/WAVE header, else PCM of ``fmt``."""

    def __init__(self, fmt: Format) -> None:
        self._fmt = fmt
        self._head = b""
        self._inner: PcmStream | WavStream | None = None

    @property
    def format(self) -> Format | None:
        return self._inner.format if self._inner else None

    @property
    def pending(self) -> int:
        return self._inner.pending if self._inner else len(self._head)

    def feed(self, data: bytes) -> bytes:
        if self._inner is None:
            self._head += data
            if len(self._head) < 12:
                return b""
            wav = self._head[:4] == b"RIFF" and self._head[8:12] == b"WAVE"
            self._inner = WavStream() if wav else PcmStream(self._fmt)
            data, self._head = self._head, b""
        return self._inner.feed(data)


def _audio(stream: PcmStream | WavStream | _Sniff, pcm: bytes) -> list[Audio]:
    fmt = stream.format
    return [Audio(fmt.rate, fmt.width, fmt.channels, pcm)] if pcm and fmt else []


def _is_text(content_type: str) -> bool:
    kind = content_format(content_type)[0]
    return kind == "application/json" or kind.startswith("text/") and kind != "text/event-stream"


def _not_playable(kind: str) -> str:
    if kind.startswith("audio/"):
        return (f"it answered {kind}, which sisyphus does not decode: it ignored response_format=pcm "
                "(sisyphus plays pcm or wav)")
    return f"it answered {kind or 'no content type'} instead of audio"
