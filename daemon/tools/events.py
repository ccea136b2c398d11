"""The tool events on the bus (the tray, ``sisyphus events`` and the tests read them by ``kind``)."""
from __future__ import annotations

from dataclasses import dataclass

from daemon.events import Event


@dataclass(frozen=True)
class ToolServerChanged(Event):
    """An MCP server's state: starting, ready, backoff, failed or stopped; ``reason`` says why."""

    kind = "tool_server"
    name: str
    state: str
    reason: str = ""
    tools: tuple = ()  # the names of its tools while ready


@dataclass(frozen=True)
class ToolCallEvent(Event):
    """A tool call in a turn: asked (waiting for a spoken yes), declined, started, slow (the cue),
    done, failed or cancelled."""

    kind = "tool"
    name: str
    state: str
    turn: int = 0
    text: str = ""  # the question asked, or why it failed
