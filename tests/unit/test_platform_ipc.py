"""The control channel by URI: the unix socket (Linux/macOS default) and Windows' token-guarded
loopback TCP, both served for real on this machine and reached through the same client."""
from __future__ import annotations

import asyncio
import json
import os
import socket
import stat

import pytest

from daemon.control import ControlServer, NotRunning
from daemon.control import request as ask
from daemon.events import EventBus
from daemon.platform import ipc
from daemon.platform.ipc import tcp
from tests.support.loop_thread import LoopThread


def test_default_uri_per_os(tmp_path):
    assert ipc.default_uri(tmp_path, "linux", {}) == f"unix://{tmp_path / 'daemon.sock'}"
    assert ipc.default_uri(tmp_path, "darwin", {}) == f"unix://{tmp_path / 'daemon.sock'}"
    assert ipc.default_uri(tmp_path, "win32", {}) == "tcp://127.0.0.1:0"
    assert ipc.default_uri(tmp_path, "linux", {"SISYPHUS_CONTROL_URI": "tcp://127.0.0.1:0"}) == "tcp://127.0.0.1:0"


class Served:
    """A real ControlServer on its own loop thread, answering ``status``."""

    def __init__(self, runtime, uri: str) -> None:
        self.thread = LoopThread()

        async def status(_req):
            return {"state": "idle"}

        self.server = ControlServer(runtime, {"status": status}, EventBus(), uri)
        self.thread.run(self.server.start())

    def stop(self) -> None:
        self.thread.run(self.server.stop())
        self.thread.stop()


@pytest.fixture(params=["unix", "tcp"])
def served(request, tmp_path):
    uri = f"unix://{tmp_path / 'daemon.sock'}" if request.param == "unix" else "tcp://127.0.0.1:0"
    server = Served(tmp_path, uri)
    yield server
    server.stop()


def test_every_transport_answers_the_same_client(served, tmp_path):
    assert ask(tmp_path, {"cmd": "status"}, timeout=5) == {"ok": True, "state": "idle"}


def test_endpoint_file_is_user_only_and_removed_at_stop(tmp_path):
    server = Served(tmp_path, "tcp://127.0.0.1:0")
    endpoint = tmp_path / ipc.ENDPOINT_FILE
    data = json.loads(endpoint.read_text())
    assert stat.S_IMODE(endpoint.stat().st_mode) == 0o600
    assert data["uri"].startswith("tcp://127.0.0.1:") and not data["uri"].endswith(":0")
    assert len(data["token"]) == 64
    server.stop()
    assert not endpoint.exists()
    with pytest.raises(NotRunning, match="not running"):
        ask(tmp_path, {"cmd": "status"}, timeout=5)


def _raw(uri: str, first_line: bytes) -> bytes:
    host, port = uri[len("tcp://"):].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(first_line + b'{"cmd": "status"}\n')
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("first_line", [b"", b"wrong-token\n", b'{"cmd": "status"}\n'])
def test_tcp_without_the_token_gets_an_error_and_no_command_runs(tmp_path, first_line):
    server = Served(tmp_path, "tcp://127.0.0.1:0")
    try:
        uri = json.loads((tmp_path / ipc.ENDPOINT_FILE).read_text())["uri"]
        reply = _raw(uri, first_line)
        lines = reply.splitlines()
        assert len(lines) == 1, reply  # the status request after the bad token was never answered
        assert json.loads(lines[0]) == tcp.BAD_TOKEN
        assert ask(tmp_path, {"cmd": "status"}, timeout=5)["ok"]  # and the daemon still serves
    finally:
        server.stop()


def test_a_stale_endpoint_after_a_crash_reads_as_not_running(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ipc.write_endpoint(tmp_path / ipc.ENDPOINT_FILE, {"uri": f"tcp://127.0.0.1:{port}", "token": "x"})
    with pytest.raises(NotRunning, match="not running"):
        ask(tmp_path, {"cmd": "status"}, timeout=5)
    ipc.write_endpoint(tmp_path / ipc.ENDPOINT_FILE, {"uri": f"unix://{tmp_path / 'gone.sock'}"})
    with pytest.raises(NotRunning, match="not running"):
        ask(tmp_path, {"cmd": "status"}, timeout=5)


def test_a_damaged_endpoint_file_says_what_to_do(tmp_path):
    (tmp_path / ipc.ENDPOINT_FILE).write_text("{nope")
    with pytest.raises(NotRunning, match="delete it"):
        ask(tmp_path, {"cmd": "status"}, timeout=5)


def test_a_new_daemon_replaces_a_stale_endpoint_with_a_fresh_token(tmp_path):
    first = Served(tmp_path, "tcp://127.0.0.1:0")
    old = json.loads((tmp_path / ipc.ENDPOINT_FILE).read_text())
    first.stop()
    ipc.write_endpoint(tmp_path / ipc.ENDPOINT_FILE, old)  # as if the daemon had been killed
    second = Served(tmp_path, "tcp://127.0.0.1:0")
    try:
        new = json.loads((tmp_path / ipc.ENDPOINT_FILE).read_text())
        assert new["token"] != old["token"]
        assert ask(tmp_path, {"cmd": "status"}, timeout=5)["ok"]
    finally:
        second.stop()


def test_control_tcp_refuses_a_network_address(tmp_path):
    async def go():
        await ipc.listen("tcp://0.0.0.0:0", tmp_path, lambda r, w: asyncio.sleep(0), 1024)

    with pytest.raises(ValueError, match="loopback only"):
        asyncio.run(go())


def test_unix_transport_refuses_on_windows(monkeypatch, tmp_path):
    monkeypatch.setattr("daemon.platform.ipc.unix.sys.platform", "win32")
    with pytest.raises(ValueError, match="not available on Windows"):
        ipc.unix.connect(str(tmp_path / "x.sock"), 1.0)
    ipc.write_endpoint(tmp_path / ipc.ENDPOINT_FILE, {"uri": f"unix://{tmp_path / 'x.sock'}"})
    with pytest.raises(NotRunning, match="not available on Windows"):
        ipc.connect(tmp_path, 1.0)


def test_endpoint_write_never_leaves_a_readable_token(tmp_path):
    path = tmp_path / ipc.ENDPOINT_FILE
    path.write_text("old")
    os.chmod(path, 0o644)
    ipc.write_endpoint(path, {"uri": "tcp://127.0.0.1:1", "token": "secret"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [ipc.ENDPOINT_FILE]
