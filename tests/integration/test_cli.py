"""The `sisyphus` command line as a user types it, against a real daemon (fake engines):
global options after the verb, restart-engines, a closed pipe, a missing engine venv."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from tests.integration.test_conversation import ThreadedServer, settings
from tests.support.daemon import Daemon

SISYPHUS = [sys.executable, "-m", "daemon.cli"]


def cli(d: Daemon, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*SISYPHUS, "--config", str(d.config), *args], env=d.env, capture_output=True,
                          text=True, timeout=60, **kw)


def pids(d: Daemon) -> dict[str, int]:
    return {name: engine["pid"] for name, engine in d.status()["engines"].items()}


def test_run_takes_config_and_debug_after_the_verb(tmp_path):
    server = ThreadedServer()
    d = Daemon(tmp_path, settings(server.server.url), "--fake-engines", "--no-audio")
    d.command = [*SISYPHUS, "run", "--config", str(d.config), "--debug"]  # `sisyphus run --config x.toml --debug`
    try:
        with d:
            shown = cli(d, "config", "path")
            assert shown.stdout.strip() == str(d.config)
            assert d.status()["config"] == str(d.config)  # the daemon read the file named after the verb
            assert " DEBUG " in d.log.read_text()  # and logs verbosely
            after = subprocess.run([*SISYPHUS, "status", "--config", str(d.config)], env=d.env,
                                   capture_output=True, text=True, timeout=60)
            assert after.returncode == 0 and "\nENGINE  STATE" in after.stdout, after.stderr
    finally:
        server.stop()


def test_delegated_verbs_take_global_options_after_the_verb(tmp_path):
    server = ThreadedServer()
    config = tmp_path / "mine.toml"
    config.write_text(f'[daemon]\nprofile = "fake"\n[llm]\nbase_url = "{server.server.url}"\nmodel = "test-model"\n')
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_DATA_HOME": str(tmp_path / "data")}

    def doctor(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*SISYPHUS, "doctor", *args], env=env, capture_output=True, text=True, timeout=120)

    try:
        verbose = doctor("--config", str(config), "--debug")  # `sisyphus doctor --config x.toml --debug`
        assert "unrecognized arguments" not in verbose.stderr, verbose.stderr
        assert f"{config}; profile fake -> fake" in verbose.stdout, verbose.stdout
        assert f"{server.server.url} answers" in verbose.stdout  # the LLM named in that file
        assert " DEBUG " in verbose.stderr  # the installer process logs verbosely (its HTTP client here)
        quiet = doctor(f"--config={config}")
        assert f"{config}; profile fake -> fake" in quiet.stdout and " DEBUG " not in quiet.stderr
    finally:
        server.stop()


def test_restart_engines_gives_every_engine_a_new_process(tmp_path):
    server = ThreadedServer()
    try:
        with Daemon(tmp_path, settings(server.server.url), "--fake-engines", "--no-audio") as d:
            before = pids(d)
            assert all(before.values()), before
            done = cli(d, "restart-engines", "--json")
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["restarted"] == ["asr", "tts"]
            d.wait(lambda: all(e["state"] == "ready" for e in d.status()["engines"].values()), 30, "ready again")
            after = pids(d)
            assert all(after[name] and after[name] != before[name] for name in before), (before, after)
            for pid in before.values():  # the old processes are gone
                d.wait(lambda p=pid: not _alive(p), 10, f"pid {pid} gone")
            shown = cli(d, "status")
            assert all(f"pid {pid}" in shown.stdout for pid in after.values()), shown.stdout
    finally:
        server.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_closed_pipe_ends_status_and_events_quietly(tmp_path):
    server = ThreadedServer()
    try:
        with Daemon(tmp_path, settings(server.server.url), "--fake-engines", "--no-audio") as d:
            shell = subprocess.run(["bash", "-c", f"{' '.join(SISYPHUS)} --config {d.config} status | head -1"],
                                   env=d.env, capture_output=True, text=True, timeout=60)
            assert shell.stdout.startswith("sisyphus ") and shell.stdout.count("\n") == 1
            assert shell.stderr == "", shell.stderr
            status = _into_closed_pipe(d, "status")
            assert status.wait(30) == 141 and status.stderr.read() == b""
            events = _into_closed_pipe(d, "events")  # `sisyphus events | head -1`: ends at the next event
            time.sleep(1.0)  # connected to the event stream
            d.ctl("new-conversation")
            d.ctl("ptt", action="press")
            d.ctl("ptt", action="release")
            assert events.wait(30) == 141
            assert events.stderr.read() == b""
    finally:
        server.stop()


def _into_closed_pipe(d: Daemon, verb: str) -> subprocess.Popen:
    """The verb writing into a pipe whose reader has already gone."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.Popen([*SISYPHUS, "--config", str(d.config), verb], env=d.env, stdout=write,
                                stderr=subprocess.PIPE)
    finally:
        os.close(write)


def test_a_missing_gpu_venv_names_the_setup_command(tmp_path):
    server = ThreadedServer()
    config = settings(server.server.url)
    del config["asr"]["command"], config["tts"]["command"]  # sisyphus' own engines, from venvs never built
    try:
        with Daemon(tmp_path, config, "--profile", "gpu", "--no-audio").start(ready=()) as d:
            d.wait(lambda: all(e["state"] == "failed" for e in d.status()["engines"].values()), 30, "failed")
            shown = cli(d, "status")
            assert shown.stdout.count("run `sisyphus setup --profile gpu`") == 2, shown.stdout
            assert "Errno" not in shown.stdout
            assert "venvs/asr/bin/python is missing (the engine venv is not set up)" in shown.stdout
    finally:
        server.stop()
