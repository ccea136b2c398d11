"""The daemon's one event bus and the events on it.

Every state change, transcript, reply delta, audio level, playback edge and error
is published here; the tray, the control socket's ``status`` and the tests all
observe the same stream. Publishing is synchronous and cheap: subscribers that do
real work (the tray) hand off to their own thread.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

_LOG = logging.getLogger(__name__)


class State(str, enum.Enum):
    IDLE = "idle"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"


class EngineState(str, enum.Enum):
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    UNHEALTHY = "unhealthy"
    BACKOFF = "backoff"
    FAILED = "failed"
    UNLOADED = "unloaded"  # stopped on purpose (VRAM, idle); reloads on demand


@dataclass(frozen=True)
class Event:
    """Base of all bus events; ``kind`` is a stable name for logs, JSON and tests."""

    kind = "event"
    at: float = field(default_factory=time.monotonic, kw_only=True, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for name in self.__dataclass_fields__:
            if name != "at":
                value = getattr(self, name)
                out[name] = value.value if isinstance(value, enum.Enum) else value
        return out


@dataclass(frozen=True)
class StateChanged(Event):
    kind = "state"
    state: State
    turn: int = 0


@dataclass(frozen=True)
class EngineStateChanged(Event):
    kind = "engine"
    name: str
    state: EngineState
    reason: str = ""


@dataclass(frozen=True)
class ErrorEvent(Event):
    """Something failed; ``code`` is stable, ``text`` says what failed and what to do."""

    kind = "error"
    code: str
    text: str
    turn: int = 0


Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def publish(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # one bad subscriber never breaks the others
                _LOG.exception("event subscriber failed on %s", event.kind)

    def queue(self, maxsize: int = 0) -> tuple[asyncio.Queue, Callable[[], None]]:
        """An asyncio queue receiving every event (for tests and the control socket)."""
        q: asyncio.Queue = asyncio.Queue(maxsize)

        def put(event: Event) -> None:
            if not q.full():
                q.put_nowait(event)

        return q, self.subscribe(put)


@dataclass(frozen=True)
class TranscriptEvent(Event):
    kind = "transcript"
    text: str
    final: bool
    turn: int = 0


@dataclass(frozen=True)
class ReplyDelta(Event):
    kind = "reply"
    text: str
    turn: int = 0


@dataclass(frozen=True)
class SpeechChunk(Event):
    """A chunk of reply text handed to the TTS engine."""

    kind = "speech"
    text: str
    turn: int = 0


@dataclass(frozen=True)
class AudioLevel(Event):
    kind = "level"
    level: float


@dataclass(frozen=True)
class PlaybackEvent(Event):
    kind = "playback"
    started: bool
    turn: int = 0


@dataclass(frozen=True)
class TurnTimings(Event):
    """Stage timings of a finished turn, in milliseconds from key-up."""

    kind = "timings"
    turn: int
    timings: dict


@dataclass(frozen=True)
class VoicesChanged(Event):
    kind = "voices"
    voices: tuple  # of (name, description, cloned)


@dataclass(frozen=True)
class SettingsChanged(Event):
    kind = "settings"
    section: str
    key: str
    value: Any


@dataclass(frozen=True)
class NoticeEvent(Event):
    """Something the user should read now (an instruction, a confirmation): a notification."""

    kind = "notice"
    title: str
    text: str
