"""The control channel over a unix socket (Linux, macOS): 0600 in the 0700 runtime dir."""
from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from pathlib import Path
from typing import Awaitable, Callable

NO_UNIX = "unix sockets are not available on Windows; the control channel there is tcp://127.0.0.1"


async def listen(path: Path, accept: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
                 limit: int) -> asyncio.AbstractServer:
    if sys.platform == "win32":
        raise ValueError(NO_UNIX)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # we hold the instance lock: any socket here is stale
    old = os.umask(0o177)
    try:
        return await asyncio.start_unix_server(accept, path=str(path), limit=limit)
    finally:
        os.umask(old)


def connect(path: str, timeout: float | None) -> socket.socket:
    if sys.platform == "win32":
        raise ValueError(NO_UNIX)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock
