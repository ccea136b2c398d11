"""The tools as the LLM sees them: OpenAI function tools, under names the API accepts. Pure."""
from __future__ import annotations

import re
from typing import Iterable

from .session import ToolInfo

_BAD = re.compile(r"[^A-Za-z0-9_-]")
DESCRIPTION_CHARS = 1024


def catalog(tools: Iterable[ToolInfo]) -> dict[str, ToolInfo]:
    """Exposed name -> tool. Names become ``[A-Za-z0-9_-]{1,64}``; a name two servers share gets
    its server's name in front (``notes_search``)."""
    tools = list(tools)
    counts: dict[str, int] = {}
    for tool in tools:
        counts[_clean(tool.name)] = counts.get(_clean(tool.name), 0) + 1
    out: dict[str, ToolInfo] = {}
    for tool in tools:
        name = _clean(tool.name)
        if counts[name] > 1 or name in out:
            name = _clean(f"{tool.server}_{tool.name}")
        out.setdefault(name, tool)
    return out


def openai_tools(tools: dict[str, ToolInfo]) -> list[dict]:
    return [{"type": "function", "function": {
        "name": name, "description": (tool.description or tool.title or name)[:DESCRIPTION_CHARS],
        "parameters": dict(tool.input_schema) or {"type": "object", "properties": {}}}}
        for name, tool in tools.items()]


def _clean(name: str) -> str:
    return (_BAD.sub("_", name) or "tool")[:64]
