"""The control channel over loopback TCP (Windows), guarded by a per-user secret token.

Loopback TCP is reachable by every local user, so a connection counts only after
its first line is the token the daemon wrote to its 0600 endpoint file; anything
else gets one error line and is hung up on, before any command is read. The
comparison is constant-time and the token is fresh at every daemon start.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import socket
from typing import Awaitable, Callable

Accept = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
AUTH_TIMEOUT_S = 5.0
BAD_TOKEN = {"ok": False, "error": "bad or missing control token; "
             "only the user running sisyphus can use its control channel"}


def new_token() -> str:
    return secrets.token_hex(32)


def authenticated(accept: Accept, token: str) -> Accept:
    """``accept``, called only for connections whose first line is ``token``."""
    expected = token.encode()

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), AUTH_TIMEOUT_S)
        except (asyncio.TimeoutError, asyncio.LimitOverrunError, ValueError, ConnectionError):
            line = b""
        if not hmac.compare_digest(line.strip(), expected):
            try:
                writer.write(json.dumps(BAD_TOKEN).encode() + b"\n")
                await writer.drain()
            except ConnectionError:
                pass
            finally:
                writer.close()
            return
        await accept(reader, writer)

    return guarded


async def listen(host: str, port: int, token: str, accept: Accept, limit: int) -> tuple[asyncio.AbstractServer, int]:
    """Serve on ``host:port`` (port 0: a free one); returns the server and the port it got."""
    server = await asyncio.start_server(authenticated(accept, token), host=host, port=port, limit=limit)
    return server, int(server.sockets[0].getsockname()[1])


def connect(host: str, port: int, token: str, timeout: float | None) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.sendall(token.encode() + b"\n")
    except OSError:
        sock.close()
        raise
    return sock
