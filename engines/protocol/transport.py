"""Where an engine listens and how a client reaches it, chosen by URI only.

``unix://PATH`` (Linux, macOS: a 0600 socket in the user's 0700 runtime dir),
``tcp://HOST:PORT`` (every OS; the only local choice on Windows, which has no
asyncio unix sockets) and ``stdio://`` (the server side only: one connection on
stdin/stdout). The daemon's clients and the engine server both go through here,
so both ends agree on what a URI means on this OS.
"""
from __future__ import annotations

import asyncio
import os
import socket
import stat
import sys
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import urlparse

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
NO_UNIX_ON_WINDOWS = "unix:// sockets are not available on Windows; use tcp://127.0.0.1:PORT"
Accept = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def check_uri(uri: str, allow_network: bool = False, platform: str = sys.platform) -> None:
    """Refuse URIs we can't serve here, and non-loopback TCP unless explicitly allowed."""
    parsed = urlparse(uri)
    if parsed.scheme == "tcp":
        if not parsed.hostname or parsed.port is None:
            raise ValueError(f"{uri!r}: a tcp URI needs a host and a port, e.g. tcp://127.0.0.1:10300")
        if parsed.hostname not in LOOPBACK and not allow_network:
            raise ValueError(
                f"{uri!r} listens on the network; pass --allow-network to serve beyond this machine"
            )
    elif parsed.scheme == "unix":
        if platform == "win32":
            raise ValueError(f"{uri!r}: {NO_UNIX_ON_WINDOWS}")
        if not parsed.path:
            raise ValueError(f"{uri!r}: a unix URI needs a path, e.g. unix:///run/user/1000/sisyphus/asr.sock")
    elif parsed.scheme != "stdio":
        raise ValueError(f"{uri!r}: only unix://, tcp:// and stdio:// are supported")


def local_uri(name: str, runtime_dir: Path, platform: str = sys.platform) -> str:
    """Where an engine the daemon starts listens: a unix socket, or loopback TCP on Windows.

    The TCP port is a free one picked now, not Wyoming's well-known 10300/10200: a
    wyoming server the user already runs there would otherwise answer our ``describe``.
    """
    if platform == "win32":
        return f"tcp://127.0.0.1:{free_port()}"
    return f"unix://{runtime_dir / f'{name}.sock'}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def listen(uri: str, accept: Accept, limit: int) -> tuple[asyncio.AbstractServer, Path | None]:
    """Start serving a unix or tcp URI; returns the server and the socket file to remove at stop."""
    parsed = urlparse(uri)
    if parsed.scheme == "unix":
        path = Path(parsed.path)
        return await listen_unix(path, accept, limit), path
    if parsed.scheme == "tcp":
        return await asyncio.start_server(accept, host=parsed.hostname, port=parsed.port, limit=limit), None
    raise ValueError(f"{uri!r}: listen() serves unix:// and tcp:// (stdio:// is served by the runner)")


async def listen_unix(path: Path, accept: Accept, limit: int) -> asyncio.AbstractServer:
    """Serve a unix socket only this user can reach, for an engine and the daemon's control channel alike.

    The parent dir is created 0700 if missing and the socket 0600. A socket file already
    there is stale (a killed engine's, or a daemon's whose instance lock we now hold) and is
    replaced; anything else at ``path`` is left alone and refused, naming it.
    """
    if sys.platform == "win32":
        raise ValueError(NO_UNIX_ON_WINDOWS)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(mode):
            raise ValueError(f"{path} exists and is not a socket; move it away or listen on another path")
        path.unlink()
    old_umask = os.umask(0o177)  # the socket is created 0600: this user only
    try:
        return await asyncio.start_unix_server(accept, path=str(path), limit=limit)
    finally:
        os.umask(old_umask)


async def open_connection(uri: str, limit: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to an engine; OSError when it is not there, ValueError for a URI we cannot reach."""
    parsed = urlparse(uri)
    if parsed.scheme == "tcp":
        return await asyncio.open_connection(parsed.hostname, parsed.port, limit=limit)
    if parsed.scheme != "unix":
        raise ValueError(f"unsupported URI {uri!r}: expected tcp://HOST:PORT or unix:///path")
    if sys.platform == "win32":
        raise ValueError(f"{uri!r}: {NO_UNIX_ON_WINDOWS}")
    return await asyncio.open_unix_connection(parsed.path, limit=limit)
