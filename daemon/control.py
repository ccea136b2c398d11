"""The control socket: ``sisyphus status|ptt|stop|quit|events`` talk to the running daemon.

JSON lines over a unix socket (0600, in the 0700 runtime dir). One request line
``{"cmd": ..., ...}`` gets one reply line ``{"ok": true, ...}`` or
``{"ok": false, "error": ...}``; ``events`` instead streams every bus event as a
line until the client hangs up. Input is bounded and validated: an oversized,
non-JSON or unknown request gets an error reply, never a dead daemon.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from pathlib import Path
from typing import Any, Awaitable, Callable

from .events import EventBus

_LOG = logging.getLogger(__name__)
MAX_LINE = 16 * 1024
MAX_CLIENTS = 32
Handler = Callable[[dict], Awaitable[dict[str, Any]]]


class ControlServer:
    def __init__(self, path: Path, handlers: dict[str, Handler], bus: EventBus) -> None:
        self.path = path
        self.handlers = handlers
        self.bus = bus
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # we hold the instance lock: any socket here is stale
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._client, path=str(self.path), limit=MAX_LINE)
        finally:
            os.umask(old)

    async def stop(self) -> None:
        if self._server:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._clients) >= MAX_CLIENTS:
            writer.close()
            return
        self._clients.add(task)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                if request.get("cmd") == "events":
                    await self._stream_events(writer)
                    break
                await _reply(writer, await self._dispatch(request))
                if request.get("fatal"):
                    break  # the rest of an oversized line is still buffered: hang up
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # CancelledError: stop(); Python 3.11's start_server would log it as an error
        finally:
            self._clients.discard(task)
            writer.close()

    async def _dispatch(self, request: dict) -> dict:
        if "error" in request:
            return {"ok": False, "error": request["error"]}
        handler = self.handlers.get(request.get("cmd"))
        if handler is None:
            return {"ok": False, "error": f"unknown command {request.get('cmd')!r}; known: "
                    + ", ".join(sorted([*self.handlers, "events"]))}
        try:
            return {"ok": True, **(await handler(request))}
        except Exception as exc:  # a failing command never takes the daemon down
            _LOG.exception("control command %s failed", request.get("cmd"))
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    async def _stream_events(self, writer: asyncio.StreamWriter) -> None:
        queue, unsubscribe = self.bus.queue(maxsize=1000)
        try:
            await _reply(writer, {"ok": True, "streaming": True})
            while True:
                event = await queue.get()
                await _reply(writer, event.to_dict())
        finally:
            unsubscribe()


async def _read_request(reader: asyncio.StreamReader) -> dict | None:
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        line = exc.partial
    except asyncio.LimitOverrunError:
        return {"error": f"request longer than {MAX_LINE} bytes", "fatal": True}
    try:
        request = json.loads(line)
    except ValueError:
        return {"error": "request is not JSON"}
    if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
        return {"error": 'request must be a JSON object like {"cmd": "status"}'}
    return request


async def _reply(writer: asyncio.StreamWriter, message: dict) -> None:
    writer.write(json.dumps(message, default=str).encode() + b"\n")
    await writer.drain()


# -- client side (the CLI) ----------------------------------------------------------

class NotRunning(Exception):
    pass


def request(path: Path, message: dict, timeout: float = 10.0) -> dict:
    """Send one command to the running daemon and return its reply."""
    with _connect(path, timeout) as sock:
        sock.sendall(json.dumps(message).encode() + b"\n")
        with sock.makefile("rb") as stream:
            line = stream.readline(1 << 20)
    if not line:
        raise NotRunning("the daemon closed the connection without answering")
    return json.loads(line)


def stream_events(path: Path):
    """Yield every event the daemon publishes (for ``sisyphus events`` and tests)."""
    sock = _connect(path, None)
    with sock, sock.makefile("rb") as stream:
        sock.sendall(b'{"cmd": "events"}\n')
        stream.readline()
        for line in stream:
            yield json.loads(line)


def _connect(path: Path, timeout: float | None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise NotRunning("sisyphus is not running (start it with `sisyphus run`)") from None
    return sock
