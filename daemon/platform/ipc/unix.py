"""The control channel's client over a unix socket (Linux, macOS); the daemon serves it with
``engines.protocol.transport.listen_unix``, the helper the engines serve with too."""
from __future__ import annotations

import socket
import sys

NO_UNIX = "unix sockets are not available on Windows; the control channel there is tcp://127.0.0.1"


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
