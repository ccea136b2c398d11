"""One live connection to an MCP server through the ``mcp`` SDK (2.x): list its tools, call one.

``mcp`` is imported here only, inside ``connect``: a daemon with no ``[[tools.mcp]]`` never loads it
(it pulls in ~600 modules). The SDK's ``Client`` must be entered and left in one task, so
``connect`` is used by the server's supervise task; calls may come from any task (the SDK
multiplexes them by request id). Cancelling a call's task sends ``notifications/cancelled``
to the server (stdio) or closes the request's stream (HTTP), which the server treats as a cancel.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Mapping, TextIO

from daemon.errors import SisyphusError

from daemon.config.mcp_servers import ServerConfig, expand

_LOG = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 30.0  # a server that does not finish its handshake in this time failed to start
_CONNECTION_CLOSED = -32000  # mcp_types.CONNECTION_CLOSED (not imported: that would load mcp_types)


@dataclass(frozen=True)
class ToolInfo:
    server: str
    name: str  # as the server names it
    description: str = ""
    input_schema: Mapping[str, Any] = field(default_factory=dict)
    title: str = ""
    read_only: bool = False  # the server's readOnlyHint (a hint: trusted only as the settings say)


@dataclass(frozen=True)
class CallResult:
    text: str
    is_error: bool = False


class ToolError(SisyphusError):
    """A tool call that failed; ``code`` is stable, ``text`` is the short spoken sentence."""


class ServerGone(ToolError):
    """The connection to the server is closed (it crashed, exited or hung up)."""

    code = "tool_server_down"


class Connection:
    """An entered ``mcp.Client``."""

    def __init__(self, config: ServerConfig, client: Any) -> None:
        self.config, self._client = config, client

    async def list_tools(self) -> list[ToolInfo]:
        tools, cursor = [], None
        while True:
            page = await self._guard(self._client.list_tools(cursor=cursor, cache_mode="bypass"))
            tools += [_info(self.config.name, tool) for tool in page.tools]
            cursor = page.next_cursor
            if not cursor:
                return tools

    async def call(self, name: str, arguments: Mapping[str, Any]) -> CallResult:
        result = await self._guard(self._client.call_tool(name, dict(arguments)))
        return CallResult(result_text(result), bool(result.is_error))

    async def _guard(self, request: Any) -> Any:
        from mcp import MCPError

        try:
            return await request
        except MCPError as exc:
            if exc.code == _CONNECTION_CLOSED:
                raise ServerGone(f"the {self.config.name} tool server closed the connection") from exc
            raise ToolError(f"the {self.config.name} tool server refused: {exc.message}", "tool_failed") from exc
        except (OSError, EOFError) as exc:
            raise ServerGone(f"the {self.config.name} tool server is unreachable ({exc})") from exc
        except Exception as exc:  # httpx2 transport errors, a reply that is not MCP
            if type(exc).__module__.startswith(("httpx", "anyio")):
                raise ServerGone(f"the {self.config.name} tool server is unreachable ({type(exc).__name__})") from exc
            raise ToolError(f"the {self.config.name} tool server sent a bad answer ({type(exc).__name__})",
                            "tool_bad_response") from exc


@contextlib.asynccontextmanager
async def connect(config: ServerConfig, errlog: TextIO | None = None,
                  environ: Mapping[str, str] = os.environ) -> AsyncIterator[Connection]:
    """Start (stdio) or reach (HTTP) the server and negotiate; MissingVariable when a ``${VAR}`` is unset."""
    from mcp import Client

    async with contextlib.AsyncExitStack() as stack:
        if config.url:
            transport = await _http(config, environ, stack)
        else:
            transport = _stdio(config, environ, errlog)
        client = Client(transport, client_info=_client_info())
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await stack.enter_async_context(client)
        yield Connection(config, client)


def _stdio(config: ServerConfig, environ: Mapping[str, str], errlog: TextIO | None) -> Any:
    import sys

    from mcp import StdioServerParameters
    from mcp.client.stdio import stdio_client

    env = expand(config.env, environ, f"[[tools.mcp]] {config.name!r} env")
    command = os.path.expanduser(config.command[0])
    params = StdioServerParameters(command=command, args=list(config.command[1:]), env=env or None,
                                   cwd=os.path.expanduser(config.cwd) if config.cwd else None)
    return stdio_client(params, errlog=errlog or sys.stderr)


async def _http(config: ServerConfig, environ: Mapping[str, str], stack: contextlib.AsyncExitStack) -> Any:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    headers = expand(config.headers, environ, f"[[tools.mcp]] {config.name!r} header")
    http = await stack.enter_async_context(
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(10.0, read=300.0)))
    return streamable_http_client(config.url, http_client=http)


def _client_info() -> Any:
    from mcp.types import Implementation

    from daemon import __version__

    return Implementation(name="sisyphus", version=__version__)


def _info(server: str, tool: Any) -> ToolInfo:
    notes = tool.annotations
    title = tool.title or (notes.title if notes is not None else None) or ""
    return ToolInfo(server, tool.name, tool.description or "", dict(tool.input_schema or {}), title,
                    bool(notes is not None and notes.read_only_hint))


def result_text(result: Any) -> str:
    """The text a tool result gives the LLM: its text parts, else its structured content as JSON."""
    parts = []
    for item in result.content or []:
        kind = getattr(item, "type", "")
        if kind == "text":
            parts.append(item.text)
        elif kind == "resource" and hasattr(item.resource, "text"):
            parts.append(item.resource.text)
        elif kind == "resource_link":
            parts.append(f"[resource {item.uri}]")
        else:
            parts.append(f"[{kind or 'content'} not shown]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)
