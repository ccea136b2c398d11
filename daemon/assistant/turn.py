"""One spoken turn, from key-down to the last audio sample, every stage streaming into the next.

Listening: audio blocks (after the pre-roll) stream to the ASR engine while the
key is held. Thinking: the final transcript goes to the LLM; its deltas go through
the sentence chunker into TTS requests, one per chunk. Speaking: from the first
sample handed to the output device until the last one played. A key press while
Thinking or Speaking is a barge-in: the turn task is cancelled (the LLM stream and
the TTS connection close with it) and queued audio is flushed by generation.
Every failure ends the turn with an ErrorEvent that says what to do; the next
turn starts clean.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Coroutine, TypeVar

from daemon.errors import EngineRequestError, SisyphusError
from daemon.events import (ErrorEvent, EventBus, PlaybackEvent, ReplyDelta, SpeechChunk, State, StateChanged,
                     TranscriptEvent, TurnTimings)
from daemon.llm.history import Cut, History
from daemon.llm.sentences import SentenceChunker
from daemon.speech import clients
from daemon.tasks import cancel_and_wait
from .faces import Engines, Llm, Microphone, PlaybackEdges, Recorded, Speaker, ToolReplies
from .rules import Action, TurnClock, on_press, on_release, on_stop

_LOG = logging.getLogger(__name__)
_END = None
T = TypeVar("T")
OomHandler = Callable[[str], Awaitable[None]]  # async (engine name): free GPU memory before one retry


def _no_problem() -> str:
    return ""


@dataclass(frozen=True)
class TurnOptions:
    mode: str = "ptt"
    min_press_ms: int = 250
    language: str = ""  # what the user speaks (ASR hint)
    voice: str = ""
    speech_language: str = ""  # what the replies are spoken in (TTS)
    ready_timeout_s: float = 120.0
    max_reply_chars: int = 4000  # an LLM that streams for ever is cut here


class Assistant:
    """The turns. ``speaker`` and ``microphone`` are its audio ends (``playback`` brings the speaker's
    start and end of playback back); ``tools``: daemon.tools.loop.ToolTurns when [[tools.mcp]] servers
    are set; ``on_cuda_oom``: frees GPU memory before one retry; ``audio_problem``: why there is no
    microphone or speaker now (with the fix), '' when both are there."""

    def __init__(self, bus: EventBus, engines: Engines, llm: Llm, history: History,
                 chunker_factory: Callable[[], SentenceChunker], speaker: Speaker, microphone: Microphone,
                 options: TurnOptions, *, playback: PlaybackEdges | None = None, tools: ToolReplies | None = None,
                 on_cuda_oom: OomHandler | None = None, audio_problem: Callable[[], str] = _no_problem) -> None:
        self.bus, self.engines, self.llm, self.history = bus, engines, llm, history
        self.chunker_factory = chunker_factory
        self.speaker, self.microphone, self.options = speaker, microphone, options
        self.state = State.IDLE
        self.turn = 0
        self.last_timings: dict[str, float] = {}
        self._task: asyncio.Task | None = None
        self._audio: asyncio.Queue | None = None
        self._played = asyncio.Event()
        self._clock = TurnClock()
        self._pressed_at = 0.0
        self._record: Recorded | None = None  # set by record_next(): the next hold records instead of a turn
        self.on_cuda_oom, self.audio_problem, self.tools = on_cuda_oom, audio_problem, tools
        if playback is not None:
            playback.connect(self)

    # -- inputs (all on the loop) ---------------------------------------------------
    def press(self) -> None:
        self._act(on_press(self.state, self.options.mode))

    def release(self) -> None:
        self._act(on_release(self.state, self.options.mode))

    def toggle(self) -> None:
        self._act(on_press(self.state, "toggle"))

    def stop(self) -> None:
        self._act(on_stop(self.state))

    def on_audio(self, block: bytes) -> None:
        """A 16 kHz mono s16 block from the microphone (handed over by the capture thread)."""
        if self._audio is not None:
            self._audio.put_nowait(block)

    def on_playback_start(self, generation: int) -> None:
        if generation == self.turn and self.state == State.THINKING:
            self._clock.mark("first_audio", time.monotonic())
            self._set(State.SPEAKING)
            self.bus.publish(PlaybackEvent(True, turn=generation))

    def on_playback_end(self, generation: int) -> None:
        if generation == self.turn:
            self.bus.publish(PlaybackEvent(False, turn=generation))
            self._played.set()

    def record_next(self, callback: Recorded) -> None:
        """The next time the user holds the key, hand the recording (16 kHz s16) to ``callback``."""
        self._record = callback

    def set_options(self, **changes: Any) -> None:
        self.options = TurnOptions(**{**self.options.__dict__, **changes})

    def new_conversation(self) -> None:
        """Forget the conversation: the next question starts a new one."""
        self.history.reset()

    def reconfigure(self, llm: Llm, system_prompt: str, max_turns: int) -> Coroutine[Any, Any, None]:
        """Answer with ``llm`` from the next turn on, with this system prompt and history length; returns
        the closing of the client it replaced (for the caller to run as a task it owns)."""
        previous, self.llm = self.llm, llm
        self.history.system_prompt = system_prompt
        self.history.max_turns = max_turns
        return previous.aclose()

    async def close(self) -> None:
        """Close the LLM client the turns use now."""
        await self.llm.aclose()

    # -- actions -------------------------------------------------------------------
    def _act(self, action: Action) -> None:
        if action == Action.LISTEN:
            self._listen()
        elif action == Action.END_LISTENING and self._audio is not None:
            self._clock.mark("key_up", time.monotonic())
            self._audio.put_nowait(_END)
            self._audio = None
            self._set(State.THINKING)
        elif action in (Action.BARGE_IN, Action.STOP, Action.DISCARD):
            self._cancel_turn()
            if action == Action.BARGE_IN:
                self._listen()
            else:
                self._set(State.IDLE)

    def _cancel_turn(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self.speaker.flush(self.turn)
        self._audio = None

    def _listen(self) -> None:
        self.turn += 1
        self._audio = asyncio.Queue()
        self._played = asyncio.Event()
        self._clock = TurnClock()
        self._pressed_at = time.monotonic()
        self._set(State.LISTENING)  # the microphone starts delivering (pre-roll first) on this event
        if self._record is not None:
            callback, self._record = self._record, None
            self._task = asyncio.create_task(self._run_recording(self.turn, self._audio, callback))
            return
        self._task = asyncio.create_task(self._run_turn(self.turn, self._audio), name=f"turn-{self.turn}")

    async def _run_recording(self, turn: int, audio: asyncio.Queue, callback: Recorded) -> None:
        try:
            pcm = b"".join([block async for block in _drain(audio)])
            await callback(pcm)
        except Exception as exc:
            code, text = describe_error(exc)
            self.bus.publish(ErrorEvent(code, text, turn=turn))
        finally:
            if turn == self.turn:
                self._audio = None
                self._set(State.IDLE)

    def _set(self, state: State) -> None:
        if state != self.state:
            self.state = state
            self.bus.publish(StateChanged(state, turn=self.turn))
            if state == State.LISTENING:  # the microphone delivers (pre-roll first) while Listening
                self.microphone.begin(self.on_audio)
            else:
                self.microphone.end()

    # -- the turn --------------------------------------------------------------------
    async def _run_turn(self, turn: int, audio: asyncio.Queue) -> None:
        reply: list[str] = []
        steps: list[dict] = []  # the tool exchange on the way, for the history
        try:
            if problem := self.audio_problem():  # not "no speech": nothing could be heard or said
                raise SisyphusError(problem, "audio_device")
            text = await self._transcribe(turn, audio)
            if text is None:
                return
            await self._respond(turn, text, reply, steps)
        except asyncio.CancelledError:
            if reply:  # barge-in or stop: keep what was said, marked as interrupted
                self.history.add_assistant("".join(reply), truncated=True, now=time.monotonic(), steps=steps)
            raise
        except Exception as exc:  # engine, LLM or audio failure; a bug must not take the daemon down either
            code, text = describe_error(exc)
            if code == "internal_error":
                _LOG.exception("turn %d failed", turn)
            self._fail(turn, code, text, reply, steps)
        finally:
            if turn == self.turn and asyncio.current_task() is self._task:
                self._finish(turn)

    async def _transcribe(self, turn: int, audio: asyncio.Queue) -> str | None:
        sent: list[bytes] = []  # kept for one retry after a CUDA out-of-memory answer

        async def blocks() -> AsyncIterator[bytes]:
            async for block in _drain(audio):
                sent.append(block)
                yield block

        async def replay() -> AsyncIterator[bytes]:
            for block in sent:
                yield block
            async for block in blocks():
                yield block

        partial = lambda t: self.bus.publish(TranscriptEvent(t, False, turn))  # noqa: E731
        text = await self._oom_retry("asr", lambda again: self._asr(replay() if again else blocks(), partial))
        self._clock.mark("transcript", time.monotonic())
        held_ms = (self._clock.marks.get("key_up", time.monotonic()) - self._pressed_at) * 1000
        heard = any(ch.isalnum() for ch in text)  # "", " " or "..." from an ASR engine is no speech
        if held_ms < self.options.min_press_ms or not heard:
            _LOG.info("turn %d: %s; nothing to answer", turn, "press too short" if heard else "no speech")
            return None
        self.bus.publish(TranscriptEvent(text, True, turn))
        return text

    async def _asr(self, blocks: AsyncIterator[bytes], partial: Callable[[str], None]) -> str:
        async with self.engines.use("asr", self.options.ready_timeout_s) as uri:
            return await clients.transcribe("asr", uri, blocks, language=self.options.language, on_partial=partial,
                                            http=self.engines.spec("asr").http)

    async def _oom_retry(self, name: str, attempt: Callable[[bool], Awaitable[T]],
                         may_retry: Callable[[], bool] = lambda: True) -> T:
        """``attempt(False)``; when engine ``name`` answers CUDA out-of-memory (and ``may_retry()``), the
        memory policy frees the other engine's GPU memory and ``attempt(True)`` runs once more."""
        try:
            return await attempt(False)
        except EngineRequestError as exc:
            if exc.code != "cuda_oom" or self.on_cuda_oom is None or not may_retry():
                raise
            await self.on_cuda_oom(name)
            return await attempt(True)

    async def _respond(self, turn: int, text: str, reply: list[str], steps: list[dict]) -> None:
        self.history.add_user(text, time.monotonic())
        chunks: asyncio.Queue = asyncio.Queue()
        producer = asyncio.create_task(self._think(turn, chunks, reply, steps))
        try:
            await self._speak(turn, chunks)
            too_long = await producer
            self.speaker.finish(turn)
            await self._played.wait()
            self.history.add_assistant("".join(reply), truncated=too_long, now=time.monotonic(), cut=Cut.TOO_LONG,
                                       steps=steps)
        finally:
            await cancel_and_wait(producer)

    async def _think(self, turn: int, chunks: asyncio.Queue, reply: list[str], steps: list[dict]) -> bool:
        """Stream the reply into speech chunks; True when it was cut at ``max_reply_chars``."""
        chunker = self.chunker_factory()
        room = self.options.max_reply_chars
        try:
            async with contextlib.aclosing(self._deltas(turn, steps)) as deltas:
                async for delta in deltas:
                    self._clock.mark("first_token", time.monotonic())
                    delta, room = delta[:max(room, 0)], room - len(delta)
                    reply.append(delta)
                    self.bus.publish(ReplyDelta(delta, turn))
                    for chunk in chunker.feed(delta):
                        self._queue_chunk(turn, chunks, chunk)
                    if room < 0:
                        break  # closing the stream tells the server to stop
            for chunk in chunker.flush():
                self._queue_chunk(turn, chunks, chunk)
        finally:
            chunks.put_nowait(_END)
        if room < 0:
            limit = self.options.max_reply_chars
            _LOG.warning("turn %d: the reply passed %d characters; cut there", turn, limit)
            self.bus.publish(ErrorEvent("llm_reply_too_long", f"the reply passed {limit} characters and was cut "
                                        "there; ask for a shorter answer, or raise [llm] max_reply_chars", turn=turn))
        return room < 0

    def _deltas(self, turn: int, steps: list[dict]) -> Any:  # an async generator of text deltas
        if self.tools is not None:  # the LLM may call MCP tools on the way; all its text is spoken
            return self.tools.reply(self.llm, self.history.messages(), turn, steps)
        return self.llm.stream(self.history.messages())

    def _queue_chunk(self, turn: int, chunks: asyncio.Queue, chunk: str) -> None:
        self._clock.mark("first_sentence", time.monotonic())
        self.bus.publish(SpeechChunk(chunk, turn))
        chunks.put_nowait(chunk)

    async def _speak(self, turn: int, chunks: asyncio.Queue) -> None:
        first = await chunks.get()
        if first is _END:
            return
        sent: list[str] = []
        played = False

        async def texts(replay: bool) -> AsyncIterator[str]:
            for chunk in (sent if replay else [first]):
                yield chunk
            if not replay:
                sent.append(first)
            async for chunk in _drain(chunks):
                sent.append(chunk)
                yield chunk

        async def attempt(replay: bool) -> None:
            nonlocal played
            async with self.engines.use("tts", self.options.ready_timeout_s) as uri:  # one request per chunk
                # aclosing: a barge-in while a block plays closes the speech request then, not at collection
                async with contextlib.aclosing(clients.synthesize(
                        "tts", uri, texts(replay), voice=self.options.voice or None,
                        language=self.options.speech_language or None, http=self.engines.spec("tts").http)) as blocks:
                    async for audio in blocks:
                        played = True
                        await self.speaker.play(turn, audio)

        await self._oom_retry("tts", attempt, lambda: not played)  # a retry only if nothing played

    def _fail(self, turn: int, code: str, text: str, reply: list[str], steps: list[dict]) -> None:
        _LOG.warning("turn %d failed (%s): %s", turn, code, text)
        if reply:
            cut = Cut.STREAM_CUT if code == "llm_stream_cut" else Cut.INTERRUPTED
            self.history.add_assistant("".join(reply), truncated=True, now=time.monotonic(), cut=cut, steps=steps)
        self.bus.publish(ErrorEvent(code, text, turn=turn))

    def _finish(self, turn: int) -> None:
        self._clock.mark("end", time.monotonic())
        self._audio = None
        self._set(State.IDLE)
        timings = self._clock.timings()
        if timings:
            self.last_timings = timings
            _LOG.info("turn %d timings (ms from key-up): %s", turn, timings)
            self.bus.publish(TurnTimings(turn, timings))


async def _drain(queue: asyncio.Queue) -> AsyncIterator[Any]:
    while (item := await queue.get()) is not _END:
        yield item


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(stable code, what failed and what to do) for any error that ends a turn."""
    if isinstance(exc, SisyphusError):
        return exc.code, exc.text
    code, text = getattr(exc, "code", None), getattr(exc, "text", None)
    if isinstance(code, str) and isinstance(text, str):  # LlmError, audio errors: same shape
        return code, text
    return "internal_error", f"{type(exc).__name__}: {exc}"
