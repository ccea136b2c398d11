"""The faces the daemon's parts meet through: each collaborator as the part that holds it sees it.

Small ``typing.Protocol`` classes, one per seam; the composition root (daemon/app/parts.py)
hands each part real objects, tests hand it fakes, and mypy checks both fit:

- ``Engines``: the supervisor as the turn, the voice cloner and the commands see it. It owns
  its engines' ``info``: others read it (``info``) or have it asked again (``refresh_info``).
- ``Speaker``, ``Microphone``: the audio ends of a turn (daemon/audio/playback.py and files.py,
  daemon/audio/microphone.py).
- ``Llm``, ``ToolReplies``, ``ToolServers``: the LLM client, and the MCP tools (daemon/tools) as a
  turn and the commands see them.
- ``Turns``: the assistant as the commands and the voice cloner see it.

``PlaybackEdges`` is the one concrete piece: the speaker is built before the assistant that
hears its start and end of playback, so the edges go through it.
"""
from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, Protocol, Sequence

from wyoming.info import Info

from daemon.events import State
from daemon.speech.clients import Audio
from daemon.speech.openai_audio import HttpOptions

Sink = Callable[[bytes], None]  # where a hold's audio goes: 16 kHz mono s16 blocks


class EngineSpecView(Protocol):
    """What users of an engine read from its spec."""

    @property
    def uri(self) -> str: ...
    @property
    def argv(self) -> tuple[str, ...]: ...
    @property
    def http(self) -> HttpOptions | None: ...


class Engines(Protocol):
    """The engines by name (``asr``, ``tts``): a request waits until one is ready (``use``)."""

    def use(self, name: str, timeout: float) -> AbstractAsyncContextManager[str]: ...
    def spec(self, name: str) -> EngineSpecView: ...
    def info(self, name: str) -> Info | None: ...
    async def refresh_info(self, name: str) -> Info | None: ...
    async def respawn(self) -> list[str]: ...


class Speaker(Protocol):
    async def play(self, generation: int, audio: Audio) -> None: ...
    def finish(self, generation: int) -> None: ...
    def flush(self, generation: int) -> None: ...


class Microphone(Protocol):
    """A hold of the hotkey: ``begin(sink)`` (the pre-roll first, then live blocks go to ``sink``), ``end()``."""

    def begin(self, sink: Sink) -> None: ...
    def end(self) -> None: ...


class Llm(Protocol):
    def stream(self, messages: Sequence[Mapping[str, Any]]) -> AsyncIterator[str]: ...
    async def aclose(self) -> None: ...


class ToolReplies(Protocol):
    """A turn whose LLM may call MCP tools on the way (daemon/tools/loop.py ToolTurns)."""

    def reply(self, llm: Any, messages: Sequence[dict], turn: int,
              steps: list[dict] | None = None) -> AsyncIterator[str]: ...


class ToolServers(Protocol):
    """The MCP servers as the commands see them (daemon/tools/servers.py)."""

    def status(self) -> dict[str, dict]: ...
    def restart(self) -> list[str]: ...


Recorded = Callable[[bytes], Awaitable[None]]


class Turns(Protocol):
    """The assistant as the commands and the voice cloner see it."""

    @property
    def state(self) -> State: ...
    def press(self) -> None: ...
    def release(self) -> None: ...
    def toggle(self) -> None: ...
    def stop(self) -> None: ...
    def set_options(self, **changes: Any) -> None: ...
    def new_conversation(self) -> None: ...
    def record_next(self, callback: Recorded) -> None: ...


class PlaybackListener(Protocol):
    def on_playback_start(self, generation: int) -> None: ...
    def on_playback_end(self, generation: int) -> None: ...


class PlaybackEdges:
    """Hands the speaker's start and end of playback to the one listener connected (the assistant)."""

    def __init__(self) -> None:
        self._listener: PlaybackListener | None = None

    def connect(self, listener: PlaybackListener) -> None:
        self._listener = listener

    def started(self, generation: int) -> None:
        if self._listener is not None:
            self._listener.on_playback_start(generation)

    def ended(self, generation: int, *_interrupted: bool) -> None:  # Playback also passes `interrupted`
        if self._listener is not None:
            self._listener.on_playback_end(generation)
