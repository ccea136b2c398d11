"""Wyoming clients: one connection per request, as Home Assistant does.

``describe``, ``transcribe`` and ``synthesize`` are the speech interface of the whole daemon: an
``http(s)://`` URI sends them to an OpenAI-compatible speech server instead (``openai_audio``),
with the engine's ``HttpOptions`` (model, key); callers never know which protocol they talk.

Every failure becomes a daemon error with a stable code: a refused connection is
``EngineUnavailable``; an ``error`` event, a dropped connection or a malformed
frame is ``EngineRequestError``. Closing the connection is how a request is
cancelled (barge-in), so the ``async with`` always closes it.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, AsyncGenerator, AsyncIterator, Callable

from wyoming.asr import Transcribe, Transcript, TranscriptChunk
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, Eventable
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped, SynthesizeVoice

from daemon.errors import EngineRequestError, EngineUnavailable, EngineUnreachable
from daemon.tasks import cancel_and_wait
from .common import Audio, unreachable
from engines.protocol.transport import open_connection
from engines.protocol.framing import Limits, ProtocolError, StreamEnded, read_event, write_event

if TYPE_CHECKING:
    from .openai_audio import HttpOptions

LIMITS = Limits(header=64 * 1024, data=4 * 1024 * 1024, payload=16 * 1024 * 1024)


class Connection:
    def __init__(self, name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.name = name
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, name: str, uri: str, timeout: float = 5.0) -> "Connection":
        try:
            reader, writer = await asyncio.wait_for(open_connection(uri, LIMITS.header), timeout)
        except ValueError as exc:
            raise EngineUnavailable(f"{name} engine: {exc}") from None
        except (OSError, asyncio.TimeoutError) as exc:
            raise EngineUnreachable(name, unreachable(uri, exc)) from None
        return cls(name, reader, writer)

    async def send(self, event: Event | Eventable) -> None:
        try:
            await write_event(self.writer, event.event() if isinstance(event, Eventable) else event)
        except (ConnectionError, OSError) as exc:
            raise EngineRequestError(f"{self.name} engine closed the connection ({exc})", "engine_died") from None

    async def recv(self) -> Event:
        """The next event; an ``error`` event, EOF or garbage raises EngineRequestError."""
        try:
            event = await read_event(self.reader, LIMITS)
        except StreamEnded:  # cut mid-frame: it died while writing, not a peer speaking garbage
            event = None
        except ProtocolError as exc:
            raise EngineRequestError(f"{self.name} engine sent a malformed frame: {exc}", "engine_protocol") from None
        except (ConnectionError, OSError):
            event = None
        if event is None:
            raise EngineRequestError(f"{self.name} engine closed the connection mid-request", "engine_died")
        if Error.is_type(event.type):
            error = Error.from_event(event)
            raise EngineRequestError(f"{self.name} engine: {error.text}", error.code or "engine_error")
        return event

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()

    async def __aenter__(self) -> "Connection":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


def _http(uri: str, options: "HttpOptions | None") -> "HttpOptions | None":
    """The options of an http(s) engine (defaults when none were given); None for a Wyoming URI.
    The client modules are imported on first use: a daemon that only talks Wyoming never loads aiohttp."""
    from .openai_audio import HttpOptions, is_http

    return (options or HttpOptions()) if is_http(uri) else None


async def describe(name: str, uri: str, timeout: float, http: "HttpOptions | None" = None) -> Info:
    if options := _http(uri, http):
        from .openai_audio import probe

        return await probe.describe(name, uri, timeout, options)

    async def ask() -> Info:
        async with await Connection.open(name, uri, timeout) as conn:
            await conn.send(Describe())
            while not Info.is_type((event := await conn.recv()).type):
                pass
            return Info.from_event(event)

    try:
        return await asyncio.wait_for(ask(), timeout)
    except asyncio.TimeoutError:
        raise EngineUnavailable(f"{name} engine at {uri} did not answer describe within {timeout:.1f} s") from None


async def transcribe(
    name: str, uri: str, blocks: AsyncIterator[bytes], *, rate: int = 16000, language: str | None = None,
    on_partial: Callable[[str], None] | None = None, http: "HttpOptions | None" = None,
) -> str:
    """Stream 16-bit mono ``blocks`` as they come; return the final transcript."""
    if options := _http(uri, http):
        from .openai_audio import transcribe as openai_transcribe

        return await openai_transcribe.transcribe(name, uri, blocks, rate=rate, language=language,
                                                  on_partial=on_partial, options=options)
    async with await Connection.open(name, uri) as conn:
        await conn.send(Transcribe(language=language or None))
        await conn.send(AudioStart(rate=rate, width=2, channels=1))
        receiver = asyncio.create_task(_receive_transcript(conn, on_partial))
        try:
            async for block in blocks:
                if receiver.done():
                    break  # the engine answered or failed early
                await conn.send(AudioChunk(rate=rate, width=2, channels=1, audio=block))
            if not receiver.done():
                await conn.send(AudioStop())
            return await receiver
        finally:
            await cancel_and_wait(receiver)


async def _receive_transcript(conn: Connection, on_partial) -> str:
    partial = ""
    while True:
        event = await conn.recv()
        if Transcript.is_type(event.type):
            return Transcript.from_event(event).text
        if TranscriptChunk.is_type(event.type):
            partial += TranscriptChunk.from_event(event).text
            if on_partial:
                on_partial(partial)


async def synthesize(
    name: str, uri: str, texts: AsyncIterator[str], *, voice: str | None = None, language: str | None = None,
    streaming: bool = False, http: "HttpOptions | None" = None,
) -> AsyncGenerator[Audio, None]:
    """Speak text chunks as they arrive; yield audio as the engine produces it.

    The chunks come from the shared chunking contract (engines.protocol.chunking): each
    ends where speech may start, whitespace kept. By default each chunk is its own
    ``synthesize`` request, in order: the one form every Wyoming TTS server speaks at
    once and whole. (In a ``synthesize-start/chunk/stop`` stream a server may wait for
    more text: wyoming-piper only ends a sentence once the next one's first letter has
    arrived, i.e. one whole chunk late.) ``streaming=True`` sends that stream instead,
    as Home Assistant does, for servers that advertise it.

    ``language`` goes with the voice as Wyoming says (a code such as ``en``); an OpenAI-compatible
    server is sent its English name (``English``), which vLLM-Omni requires and ours accepts.
    """
    if options := _http(uri, http):
        from .openai_audio import speech

        async for audio in speech.synthesize(name, uri, texts, voice=voice, language=language,
                                           options=options):
            yield audio
        return
    wyoming_voice = SynthesizeVoice(name=voice, language=language) if voice or language else None
    if not streaming:
        async for text in texts:
            async with await Connection.open(name, uri) as conn:
                await conn.send(Synthesize(text=text, voice=wyoming_voice))
                async for audio in _receive_audio(conn, until=AudioStop):
                    yield audio
        return
    async with await Connection.open(name, uri) as conn:
        await conn.send(SynthesizeStart(voice=wyoming_voice))
        sender = asyncio.create_task(_send_texts(conn, texts, wyoming_voice))
        try:
            async for audio in _receive_audio(conn, until=SynthesizeStopped):
                yield audio
            await sender
        finally:
            await cancel_and_wait(sender)


async def _send_texts(conn: Connection, texts: AsyncIterator[str], voice) -> None:
    """Each chunk as it comes, unchanged: the chunks concatenate to the text (Wyoming's rule)."""
    spoken = []
    async for text in texts:
        spoken.append(text)
        await conn.send(SynthesizeChunk(text=text))
    await conn.send(Synthesize(text="".join(spoken), voice=voice))  # for servers that do not stream
    await conn.send(SynthesizeStop())


async def _receive_audio(conn: Connection, until) -> AsyncGenerator[Audio, None]:
    while True:
        event = await conn.recv()
        if until.is_type(event.type):
            return
        if AudioChunk.is_type(event.type):
            chunk = AudioChunk.from_event(event)
            yield Audio(chunk.rate, chunk.width, chunk.channels, chunk.audio)
