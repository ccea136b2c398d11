"""The Windows control channel, run here for real: the whole daemon serves token-guarded loopback
TCP, and the CLI verbs, the event stream and a full turn work over it exactly as over the unix socket."""
from __future__ import annotations

import json
import subprocess
import sys

from daemon.platform import ipc
from tests.integration.test_conversation import settings
from tests.support.openai_server import ThreadedServer
from tests.integration.test_lifecycle import engine_pids, wait_gone
from tests.support.daemon import Daemon

TCP = {"SISYPHUS_CONTROL_URI": "tcp://127.0.0.1:0"}


def cli(d: Daemon, *verb: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in d.env.items() if k != "SISYPHUS_CONTROL_URI"}  # clients need only the endpoint file
    return subprocess.run([sys.executable, "-m", "daemon.cli", "--config", str(d.config), *verb], env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_events_and_a_turn_over_the_tcp_control_channel(tmp_path):
    server = ThreadedServer()
    d = Daemon(tmp_path, settings(server.server.url), "--fake-engines", "--no-audio", env=TCP)
    try:
        d.start()
        endpoint = json.loads((d.runtime / ipc.ENDPOINT_FILE).read_text())
        assert endpoint["uri"].startswith("tcp://127.0.0.1:") and endpoint["token"]
        assert not d.socket.exists()  # no unix socket at all on this channel
        status = cli(d, "status")
        assert status.returncode == 0, status.stderr
        assert ", idle" in status.stdout.splitlines()[0] and "\nasr     ready  " in status.stdout, status.stdout
        start = d.turn()  # ptt press/release and the event stream, over tcp
        d.turn_end(start)
        assert d.kinds(start)[:2] == ["state:listening", "state:thinking"] and "timings" in d.kinds(start)
        pids = engine_pids(d)
        quit_ = cli(d, "quit")
        assert quit_.returncode == 0, quit_.stderr
        assert d.proc.wait(20) == 0
        assert wait_gone(pids) == []
        assert not (d.runtime / ipc.ENDPOINT_FILE).exists()
        gone = cli(d, "status")
        assert gone.returncode == 1 and "not running" in gone.stderr
    finally:
        d.stop()
        server.stop()
