"""A real MCP server for the tests, written with the ``mcp`` SDK (2.x ``MCPServer``).

    python -m tests.support.mcp_server --marks DIR                 # stdio
    python -m tests.support.mcp_server --marks DIR --http --token T  # Streamable HTTP, prints "PORT <n>"

Tools (what each did is written to DIR, so a test sees what the server saw):
- ``weather(city)``: read-only, answers at once: "It is 21 degrees and sunny in <city>."
- ``delete_note(name)``: destructive: writes ``deleted-<name>`` and answers "Deleted <name>."
- ``slow_search(query, seconds)``: read-only, sleeps; a cancelled call writes ``cancelled-slow_search``.
- ``hang()``: read-only, never answers (writes ``cancelled-hang`` when cancelled).
- ``crash()``: read-only, the server process exits at once (status 3) the first time (``crashed`` marks it).
- ``broken()``: read-only, fails with "the disk is full".
Every call appends ``{"tool", "arguments"}`` to ``DIR/calls.jsonl``; ``DIR/pid`` holds the process id. Over HTTP, a request without
``Authorization: Bearer <token>`` is refused with 401.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)


def build(marks: Path) -> MCPServer:
    server = MCPServer("sisyphus-test-tools")
    (marks / "pid").write_text(str(os.getpid()))  # a test may kill the server while it is idle

    def note(tool: str, **arguments: object) -> None:
        with open(marks / "calls.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps({"tool": tool, "arguments": arguments}) + "\n")

    @server.tool(annotations=READ_ONLY)
    def weather(city: str) -> str:
        """Get the current weather in a city."""
        note("weather", city=city)
        return f"It is 21 degrees and sunny in {city}."

    @server.tool(title="delete the note", annotations=ToolAnnotations(destructive_hint=True))
    def delete_note(name: str) -> str:
        """Delete one of the user's notes."""
        note("delete_note", name=name)
        (marks / f"deleted-{name}").write_text("deleted")
        return f"Deleted {name}."

    async def sleeper(tool: str, seconds: float) -> None:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            (marks / f"cancelled-{tool}").write_text("cancelled")
            raise

    @server.tool(annotations=READ_ONLY)
    async def slow_search(query: str, seconds: float = 3.0) -> str:
        """Search the user's files (slow)."""
        note("slow_search", query=query, seconds=seconds)
        await sleeper("slow_search", seconds)
        return f"Found 3 files about {query}."

    @server.tool(annotations=READ_ONLY)
    async def hang() -> str:
        """Check the mailbox."""
        note("hang")
        await sleeper("hang", 3600)
        return "never"

    @server.tool(annotations=READ_ONLY)
    def crash() -> str:
        """Count the unread messages."""
        note("crash")
        if not (marks / "crashed").exists():
            (marks / "crashed").write_text("once")
            os._exit(3)
        return "You have 4 unread messages."

    @server.tool(annotations=READ_ONLY)
    def broken() -> str:
        """Read the disk usage."""
        note("broken")
        raise ToolError("the disk is full")

    return server


def _http(server: MCPServer, token: str) -> None:
    import uvicorn

    app = server.streamable_http_app()

    async def guarded(scope, receive, send):
        headers = dict(scope.get("headers") or [])
        if scope["type"] == "http" and headers.get(b"authorization") != f"Bearer {token}".encode():
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"bad token"})
            return
        await app(scope, receive, send)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(guarded, log_level="warning", lifespan="on")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--marks", type=Path, required=True, help="folder for what the tools did")
    parser.add_argument("--http", action="store_true", help="Streamable HTTP on a free port (printed)")
    parser.add_argument("--token", default="", help="HTTP: the bearer token required")
    args = parser.parse_args(argv)
    args.marks.mkdir(parents=True, exist_ok=True)
    server = build(args.marks)
    if args.http:
        _http(server, args.token)
    else:
        server.run()


if __name__ == "__main__":
    sys.exit(main())
