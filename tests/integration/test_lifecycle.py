"""Daemon lifecycle with real processes: clean shutdown, SIGKILL leaves no orphans, restart is clean."""
from __future__ import annotations

import os
import signal
import time

from tests.integration.test_conversation import settings
from tests.support.openai_server import ThreadedServer
from tests.support.daemon import Daemon


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def engine_pids(d: Daemon) -> list[int]:
    return [e["pid"] for e in d.status()["engines"].values()]


def test_sigterm_stops_engines_and_exits_cleanly(tmp_path):
    server = ThreadedServer()
    try:
        d = Daemon(tmp_path, settings(server.server.url), "--fake-engines", "--no-audio").start()
        pids = engine_pids(d)
        assert all(alive(p) for p in pids)
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(20) == 0
        assert wait_gone(pids) == []
        assert not d.socket.exists()
    finally:
        server.stop()


def test_sigkill_leaves_no_engine_behind_and_next_start_is_clean(tmp_path):
    server = ThreadedServer()
    try:
        d = Daemon(tmp_path, settings(server.server.url), "--fake-engines", "--no-audio").start()
        pids = engine_pids(d)
        d.proc.kill()
        d.proc.wait(10)
        assert wait_gone(pids) == [], "engines outlived a SIGKILLed daemon"
        assert d.socket.exists()  # stale socket left behind by the killed daemon...
        again = Daemon(tmp_path, settings(server.server.url), "--fake-engines", "--no-audio").start()
        try:  # ...is replaced: the lock proved nobody owns it
            assert again.status()["state"] == "idle"
            assert set(engine_pids(again)).isdisjoint(pids)
        finally:
            again.stop()
    finally:
        server.stop()
