"""The daemon's control channel, by URI: what every CLI verb, the tray and the tests connect to.

``unix://PATH`` (Linux, macOS: a 0600 socket in the 0700 runtime dir) or
``tcp://127.0.0.1:PORT`` (Windows: loopback only, and every connection must first
send the per-user secret token; port 0 picks a free one). The daemon picks the
default for its OS (``SISYPHUS_CONTROL_URI`` overrides it) and, once listening,
writes the endpoint file ``control.json`` into the runtime dir: the URI it really
listens on, plus the token for tcp. The file is created 0600 in a per-user dir
(on Windows, %LOCALAPPDATA% is readable by that user only), so only this user's
processes can learn the token. Clients read that file, so they need no setting.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, Mapping
from urllib.parse import urlparse

from engines.protocol.transport import listen_unix

from . import tcp, unix

ENDPOINT_FILE = "control.json"
Accept = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class NotRunning(Exception):
    pass


NOT_RUNNING = "sisyphus is not running (start it with `sisyphus run`)"


def default_uri(runtime_dir: Path, platform: str = sys.platform, env: Mapping[str, str] = os.environ) -> str:
    if uri := env.get("SISYPHUS_CONTROL_URI"):
        return uri
    if platform == "win32":
        return "tcp://127.0.0.1:0"
    return f"unix://{runtime_dir / 'daemon.sock'}"


@dataclass
class Listener:
    server: asyncio.AbstractServer
    uri: str
    files: tuple[Path, ...]  # removed at close: the endpoint file, a unix socket

    async def close(self) -> None:
        self.server.close()
        for path in self.files:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


async def listen(uri: str, runtime_dir: Path, accept: Accept, limit: int) -> Listener:
    """Serve ``uri`` and publish it (with a fresh token for tcp) in the endpoint file."""
    parsed = urlparse(uri)
    endpoint = runtime_dir / ENDPOINT_FILE
    if parsed.scheme == "unix":
        server = await listen_unix(Path(parsed.path), accept, limit)
        write_endpoint(endpoint, {"uri": uri})
        return Listener(server, uri, (endpoint, Path(parsed.path)))
    if parsed.scheme == "tcp":
        if parsed.hostname not in ("127.0.0.1", "::1", "localhost") or parsed.port is None:
            raise ValueError(f"control uri {uri!r}: expected tcp://127.0.0.1:PORT (loopback only)")
        token = tcp.new_token()
        server, port = await tcp.listen(parsed.hostname, parsed.port, token, accept, limit)
        host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
        real = f"tcp://{host}:{port}"
        write_endpoint(endpoint, {"uri": real, "token": token})
        return Listener(server, real, (endpoint,))
    raise ValueError(f"control uri {uri!r}: expected unix:///path or tcp://127.0.0.1:PORT")


def write_endpoint(path: Path, data: dict) -> None:
    """Atomically, 0600 from the first byte (the token never sits in a readable file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    os.replace(tmp, path)


def read_endpoint(runtime_dir: Path) -> dict:
    try:
        data = json.loads((runtime_dir / ENDPOINT_FILE).read_text())
    except FileNotFoundError:
        raise NotRunning(NOT_RUNNING) from None
    except (OSError, ValueError) as exc:
        raise NotRunning(f"cannot read {runtime_dir / ENDPOINT_FILE} ({exc}); "
                         "if sisyphus is not running, delete it and start it") from None
    if not isinstance(data, dict) or not isinstance(data.get("uri"), str):
        raise NotRunning(f"{runtime_dir / ENDPOINT_FILE} is damaged; restart sisyphus")
    return data


def connect(runtime_dir: Path, timeout: float | None) -> socket.socket:
    """A connected, authenticated socket to the running daemon, or NotRunning."""
    endpoint = read_endpoint(runtime_dir)
    parsed = urlparse(endpoint["uri"])
    try:
        if parsed.scheme == "unix":
            return unix.connect(parsed.path, timeout)
        if parsed.scheme == "tcp" and parsed.hostname and parsed.port:
            return tcp.connect(parsed.hostname, parsed.port, str(endpoint.get("token", "")), timeout)
    except (FileNotFoundError, ConnectionRefusedError):
        raise NotRunning(NOT_RUNNING) from None  # a stale endpoint left by a daemon that was killed
    except ValueError as exc:
        raise NotRunning(f"{runtime_dir / ENDPOINT_FILE}: {exc}") from None
    raise NotRunning(f"{runtime_dir / ENDPOINT_FILE} names {endpoint['uri']!r}, which this OS cannot reach")
