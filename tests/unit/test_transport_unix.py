"""engines.protocol.transport.listen_unix: the one unix-socket serving helper of the engines and the daemon's
control channel (served for real here; Linux and macOS only)."""
from __future__ import annotations

import asyncio
import socket
import sys

import pytest

from engines.protocol.transport import listen_unix

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no asyncio unix sockets on Windows")


async def echo_once(path) -> bytes:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(b"ping\n")
    await writer.drain()
    line = await reader.readline()
    writer.close()
    return line


async def serve(path):
    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    return await listen_unix(path, accept, 1024)


async def test_the_socket_is_user_only_in_a_user_only_dir(tmp_path):
    path = tmp_path / "run" / "x.sock"
    server = await serve(path)
    try:
        assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
        assert await echo_once(path) == b"ping\n"
    finally:
        server.close()


async def test_a_stale_socket_is_replaced(tmp_path):
    path = tmp_path / "x.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # a socket file nobody listens on, as a SIGKILLed engine or daemon leaves
    server = await serve(path)
    try:
        assert await echo_once(path) == b"ping\n"
    finally:
        server.close()


async def test_a_file_that_is_not_a_socket_is_left_alone_and_named(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    with pytest.raises(ValueError, match="notes.txt exists and is not a socket"):
        await serve(path)
    assert path.read_text() == "mine"


async def test_the_control_channel_serves_through_it(tmp_path, monkeypatch):
    from daemon.platform import ipc

    served = []
    real = ipc.listen_unix

    async def spy(path, accept, limit):
        served.append(path)
        return await real(path, accept, limit)

    monkeypatch.setattr(ipc, "listen_unix", spy)
    listener = await ipc.listen(f"unix://{tmp_path / 'daemon.sock'}", tmp_path, lambda r, w: asyncio.sleep(0), 1024)
    await listener.close()
    assert served == [tmp_path / "daemon.sock"]
