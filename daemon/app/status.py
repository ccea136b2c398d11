"""What ``sisyphus status`` (and the tray) shows of the running parts."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from daemon import __version__
from daemon.assistant.turn import Assistant
from daemon.commands.audio import AudioDevices
from daemon.events import ErrorEvent, Event
from daemon.llm import backend as llm_backend
from daemon.supervisor.group import Supervisor
from daemon.vram.manager import MemoryManager

if TYPE_CHECKING:  # daemon/tools (and mcp) load only when [[tools.mcp]] names servers
    from daemon.tools import Tools


class LastError:
    """The last ErrorEvent: what failed, in which turn (``sisyphus status``)."""

    def __init__(self) -> None:
        self.value: dict | None = None

    def remember(self, event: Event) -> None:
        if isinstance(event, ErrorEvent):
            self.value = {"code": event.code, "text": event.text, "turn": event.turn,
                          "at": time.strftime("%H:%M:%S")}


@dataclass(frozen=True)
class Status:
    """What ``sisyphus status`` (and the tray) shows of the running parts."""

    profile: str
    config: Path
    assistant: Assistant
    supervisor: Supervisor
    memory: MemoryManager
    audio: AudioDevices
    last_error: LastError
    llm_choice: llm_backend.Choice
    tools: Tools | None
    started: float  # time.monotonic() when the parts began to be built

    def __call__(self) -> dict:
        assistant = self.assistant
        return {
            "version": __version__,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self.started, 1),
            "profile": self.profile,
            "config": str(self.config),
            "state": assistant.state.value,
            "turn": assistant.turn,
            "last_timings_ms": assistant.last_timings,
            "engines": self.supervisor.status(),
            "vram": self.memory.status(),
            "audio": self.audio.status(),
            "last_error": self.last_error.value,
            "llm": self.llm_choice.status(),
            **({"tools": self.tools.servers.status()} if self.tools else {}),  # MCP servers, when set
        }
