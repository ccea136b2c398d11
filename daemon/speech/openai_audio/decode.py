"""Stream decoders for speech responses, apart from the connection: bytes in, audio or events out.

HTTP chunks are not aligned to anything: one may end inside a 16-bit sample, inside a WAV
header, inside an SSE line, or inside a base64 quadruple's worth of audio. Each decoder keeps
the unfinished part for the next piece, so what comes out is always whole frames and whole events.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from engines.protocol.wav import WavError, data_chunk, parse_wav

DEFAULT_RATE = 24000  # OpenAI's pcm: "raw samples in 24kHz (16-bit signed, low-endian)", mono
MAX_WAV_HEAD = 64 * 1024  # a WAV header longer than this is not a header
MAX_SSE_LINE = 16 * 1024 * 1024  # one base64 audio delta of a few seconds fits many times


class DecodeError(ValueError):
    """The server's body cannot be decoded as what it claims; the text says what was wrong."""


@dataclass(frozen=True)
class Format:
    rate: int = DEFAULT_RATE
    width: int = 2  # bytes per sample, little-endian integer PCM
    channels: int = 1

    @property
    def frame(self) -> int:
        return self.width * self.channels


class PcmStream:
    """Raw PCM in pieces of any size -> whole frames; a frame split across pieces waits for its rest."""

    def __init__(self, fmt: Format) -> None:
        self.format = fmt
        self._rest = b""

    def feed(self, data: bytes) -> bytes:
        data = self._rest + data if self._rest else data
        cut = len(data) - len(data) % self.format.frame
        self._rest = data[cut:]
        return data[:cut]

    @property
    def pending(self) -> int:
        return len(self._rest)


class WavStream:
    """A WAV body in pieces -> its format (once the header is in) and whole frames.

    A streamed WAV declares an unknown size (0xFFFFFFFF, or 0); a known size ends the samples there."""

    def __init__(self) -> None:
        self._head = bytearray()
        self._pcm: PcmStream | None = None
        self._left: int | None = None

    @property
    def format(self) -> Format | None:
        return self._pcm.format if self._pcm else None

    def feed(self, data: bytes) -> bytes:
        if self._pcm is None:
            self._head += data
            data = self._start()
            if self._pcm is None:
                return b""
        if self._left is not None:
            data, self._left = data[:self._left], max(self._left - len(data), 0)
        return self._pcm.feed(data)

    def _start(self) -> bytes:
        head = bytes(self._head)
        try:
            found = data_chunk(head)
            if found is None:
                if len(head) > MAX_WAV_HEAD:
                    raise WavError(f"no data chunk in its first {MAX_WAV_HEAD} bytes")
                return b""
            offset, size = found
            wav = parse_wav(head[:offset])
        except WavError as exc:
            raise DecodeError(f"the WAV stream cannot be played: {exc}") from None
        self._pcm = PcmStream(Format(wav.rate, wav.width, wav.channels))
        self._left = None if size in (0, 0xFFFFFFFF) else size
        self._head.clear()
        return head[offset:]

    @property
    def pending(self) -> int:
        return self._pcm.pending if self._pcm else len(self._head)


@dataclass(frozen=True)
class SseEvent:
    event: str  # the ``event:`` line's name, '' when the server sends data lines only (Speaches)
    data: str

    def json(self) -> dict[str, Any]:
        """The data as a JSON object whose ``type`` falls back to the event name."""
        try:
            value = json.loads(self.data)
        except ValueError:
            raise DecodeError(f"a server-sent event is not JSON: {self.data[:200]!r}") from None
        if not isinstance(value, dict):
            raise DecodeError(f"a server-sent event is not a JSON object: {self.data[:200]!r}")
        value.setdefault("type", self.event)
        return value


class SseParser:
    """``text/event-stream`` bytes in pieces -> events (the WHATWG rules that matter here: lines end
    with LF, CRLF or CR; ``data:`` lines join with LF; a blank line dispatches; ``:`` lines are comments)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, data: bytes) -> list[SseEvent]:
        self._buffer += data
        events: list[SseEvent] = []
        while True:
            end, skip = _line_end(self._buffer)
            if end < 0:
                break
            line, self._buffer = self._buffer[:end], self._buffer[end + skip:]
            event = self._line(line.decode("utf-8", "replace"))
            if event is not None:
                events.append(event)
        if len(self._buffer) > MAX_SSE_LINE:
            raise DecodeError(f"a server-sent event line passed {MAX_SSE_LINE} bytes")
        return events

    def end(self) -> list[SseEvent]:
        """The last event when the stream ends without its blank line."""
        events = self.feed(b"\n") if self._buffer else []
        event = self._line("")
        return events + ([event] if event else [])

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = SseEvent(self._event, "\n".join(self._data))
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None


def _line_end(buffer: bytes) -> tuple[int, int]:
    """Index of the first line end and its length; (-1, 0) when no line is complete. A CR at the
    very end may be the first half of CRLF: wait for the next byte."""
    lf, cr = buffer.find(b"\n"), buffer.find(b"\r")
    if cr < 0 or (0 <= lf < cr):
        return lf, 1
    if cr + 1 == len(buffer):
        return -1, 0
    return cr, 2 if buffer[cr + 1:cr + 2] == b"\n" else 1


def b64_audio(value: Any) -> bytes:
    """The bytes of a base64 ``audio`` field of a ``speech.audio.delta`` event."""
    if not isinstance(value, str):
        raise DecodeError(f"speech.audio.delta without base64 audio (got {type(value).__name__})")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"speech.audio.delta carries invalid base64 ({exc})") from None


def content_format(content_type: str) -> tuple[str, dict[str, str]]:
    """``audio/pcm;rate=22050`` -> ('audio/pcm', {'rate': '22050'}), lower-cased."""
    kind, *params = content_type.split(";")
    pairs = (p.split("=", 1) for p in params if "=" in p)
    return kind.strip().lower(), {k.strip().lower(): v.strip().strip('"') for k, v in pairs}


def pcm_format(params: dict[str, str]) -> Format:
    """The format of a raw PCM body: 24 kHz s16 mono unless the content type says otherwise
    (openedai-speech sends ``audio/pcm;rate=22050`` for Piper voices)."""
    try:
        rate = int(params.get("rate") or params.get("samplerate") or DEFAULT_RATE)
        channels = int(params.get("channels") or 1)
    except ValueError:
        raise DecodeError(f"unreadable PCM parameters {params}") from None
    if not 1000 <= rate <= 384000 or not 1 <= channels <= 8:
        raise DecodeError(f"implausible PCM parameters: {rate} Hz, {channels} channel(s)")
    return Format(rate, 2, channels)
