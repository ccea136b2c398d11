"""The control socket: ``sisyphus status|ptt|stop|quit|events`` talk to the running daemon.

JSON lines over the control channel (daemon/platform/ipc/: a 0600 unix socket in the
0700 runtime dir on Linux/macOS, token-guarded loopback TCP on Windows). One request line
``{"cmd": ..., ...}`` gets one reply line ``{"ok": true, ...}`` or
``{"ok": false, "error": ...}``; ``events`` instead streams every bus event as a
line until the client hangs up. Input is bounded and validated: an oversized,
non-JSON or unknown request gets an error reply, never a dead daemon.
"""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable

from .errors import SisyphusError
from .events import EventBus
from .platform import ipc
from .platform.ipc import NotRunning

_LOG = logging.getLogger(__name__)
MAX_LINE = 16 * 1024
MAX_CLIENTS = 32
__all__ = ["ControlServer", "NotRunning", "request", "stream_events"]
Handler = Callable[[dict], Awaitable[dict[str, Any]]]


class ControlServer:
    def __init__(self, runtime_dir: Path, handlers: dict[str, Handler], bus: EventBus, uri: str = "") -> None:
        self.runtime_dir = runtime_dir
        self.uri = uri or ipc.default_uri(runtime_dir)  # the default for this OS
        self.handlers = handlers
        self.bus = bus
        self._listener: ipc.Listener | None = None
        self._clients: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._listener = await ipc.listen(self.uri, self.runtime_dir, self._client, MAX_LINE)

    async def stop(self) -> None:
        if self._listener:
            await self._listener.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # the server runs each client in its own task
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
        handler = self.handlers.get(str(request.get("cmd")))
        if handler is None:
            return {"ok": False, "error": f"unknown command {request.get('cmd')!r}; known: "
                    + ", ".join(sorted([*self.handlers, "events"]))}
        try:
            return {"ok": True, **(await handler(request))}
        except (SisyphusError, ValueError) as exc:  # refused input, a failed request: the text says it all
            _LOG.info("control command %s refused: %s", request.get("cmd"), exc)
            return {"ok": False, "error": str(exc), "code": getattr(exc, "code", "bad_request")}
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
    except RecursionError:  # a JSON line nested thousands deep: refused like any other bad request
        return {"error": "request is nested too deeply; send a flat JSON object like {\"cmd\": \"status\"}"}
    if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
        return {"error": 'request must be a JSON object like {"cmd": "status"}'}
    return request


async def _reply(writer: asyncio.StreamWriter, message: dict) -> None:
    writer.write(json.dumps(message, default=str).encode() + b"\n")
    await writer.drain()


# -- client side (the CLI) ----------------------------------------------------------

def request(runtime_dir: Path, message: dict, timeout: float = 10.0) -> dict:
    """Send one command to the daemon whose runtime dir is ``runtime_dir``; return its reply."""
    with ipc.connect(runtime_dir, timeout) as sock:
        sock.sendall(json.dumps(message).encode() + b"\n")
        with sock.makefile("rb") as stream:
            line = stream.readline(1 << 20)
    if not line:
        raise NotRunning("the daemon closed the connection without answering")
    return json.loads(line)


def stream_events(runtime_dir: Path):
    """Yield every event the daemon publishes (for ``sisyphus events`` and tests)."""
    sock = ipc.connect(runtime_dir, None)
    with sock, sock.makefile("rb") as stream:
        sock.sendall(b'{"cmd": "events"}\n')
        stream.readline()
        for line in stream:
            yield json.loads(line)
