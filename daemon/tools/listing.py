"""``sisyphus tools list``: the MCP servers and their tools, from the running daemon or, when none
runs, by starting each server for a moment."""
from __future__ import annotations

import asyncio
from pathlib import Path

from daemon.config.mcp_servers import ServerConfig, parse_servers
from .confirm import runs_without_asking
from .session import ToolInfo, connect

LIST_TIMEOUT_S = 30.0


def format_servers(servers: dict, allowed: frozenset[str] | set[str] = frozenset()) -> str:
    """What the CLI prints: each server with its state, then its tools and whether they ask first."""
    if not servers:
        return "no MCP tool servers: add [[tools.mcp]] entries to the settings (see the README, Tools)"
    lines = []
    for name, server in servers.items():
        reason = f" - {server['reason']}" if server.get("reason") else ""
        lines.append(f"{name}: {server['state']} ({server['transport']} {server['where']}){reason}")
        for tool in server.get("tools", []):
            info = ToolInfo(name, tool["name"], read_only=tool["read_only"])
            safety = "runs at once" if tool.get("auto", runs_without_asking(info, allowed)) else "asks first"
            about = f" - {tool['description'].splitlines()[0]}" if tool.get("description") else ""
            lines.append(f"  {tool['name']} [{safety}]{about}")
    return "\n".join(lines)


def offline(config_path: Path) -> str:
    """Start each configured server, list its tools, stop it: the listing without a daemon."""
    from daemon.config import store

    settings = store.load(config_path)
    configs, _ = parse_servers(settings.tools.mcp)
    allowed = set(settings.tools.allow) | {f"{c.name}.{t}" for c in configs for t in c.allow}
    return format_servers(asyncio.run(_list_all(configs)), allowed)


async def _list_all(configs: list[ServerConfig]) -> dict:
    results = await asyncio.gather(*(_list_one(c) for c in configs))
    return {c.name: result for c, result in zip(configs, results)}


async def _list_one(config: ServerConfig) -> dict:
    entry = {"transport": config.transport, "where": config.where, "tools": []}
    try:
        async with asyncio.timeout(LIST_TIMEOUT_S):
            async with connect(config) as conn:
                tools = await conn.list_tools()
    except Exception as exc:  # each server's own failure, shown on its line
        from .servers import _why

        return {**entry, "state": "failed", "reason": _why(exc)}
    return {**entry, "state": "ok", "reason": "", "tools": [
        {"name": t.name, "description": t.description, "read_only": t.read_only} for t in tools]}
