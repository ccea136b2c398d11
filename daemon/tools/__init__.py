"""Tools from MCP servers for the assistant's turns.

The ``[[tools.mcp]]`` entries are read in daemon/config/mcp_servers.py. ``session`` (one MCP
connection: the only module that imports ``mcp``, lazily), ``servers`` (supervision), ``catalog`` (tools as the LLM sees them),
``calls`` (streamed tool calls assembled), ``confirm`` (the safety rule), ``loop`` (a turn with
tools), ``listing`` (``sisyphus tools list``). With no ``[[tools.mcp]]`` none of it is built.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from daemon.config.schema import Settings
from daemon.events import EventBus

from daemon.config.mcp_servers import parse_servers
from .loop import ToolTurns
from .servers import ToolServers


@dataclass
class Tools:
    servers: ToolServers
    turns: ToolTurns


def build_tools(settings: Settings, bus: EventBus, log_dir: Path | None) -> Tools | None:
    """The tool servers and the turn loop, or None when the settings name no server."""
    configs, problems = parse_servers(settings.tools.mcp)
    if problems:  # the settings were validated at load; this is a bug
        raise ValueError("; ".join(problems))
    if not configs:
        return None
    servers = ToolServers(configs, bus, settings.tools, settings.supervisor, log_dir)
    return Tools(servers, ToolTurns(servers, settings.tools, bus))
