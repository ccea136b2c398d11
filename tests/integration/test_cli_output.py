"""What `sisyphus status|voices list|devices|models list` print, against the real daemon (fake engines)
and the real `models list`: the replies have the fields the golden cases of
tests/unit/test_cli_output.py were written from, people get one line per engine and voice, and
--json is the reply itself."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.integration.test_conversation import settings
from tests.support.daemon import Daemon, write_tone_wav
from tests.support.openai_server import ThreadedServer

CASES = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "cli" / "replies.json").read_text())


def cli(d: Daemon, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "daemon.cli", "--config", str(d.config), *args], env=d.env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr, (args, done.stderr)
    return done


def test_a_running_daemon_s_replies_read_as_the_golden_cases(tmp_path):
    mic = write_tone_wav(tmp_path / "q.wav", seconds=1.0)
    server = ThreadedServer()
    try:
        with Daemon(tmp_path, settings(server.server.url), "--fake-engines", "--mic-file", str(mic),
                    "--speaker-file", str(tmp_path / "out.wav")) as d:
            d.turn_end(d.turn())
            status = json.loads(cli(d, "status", "--json").stdout)
            assert set(status) == set(CASES["status-fake"]["reply"]) - {"ok"}
            assert set(status["engines"]["asr"]) == set(CASES["status-fake"]["reply"]["engines"]["asr"])
            assert set(status["last_timings_ms"]) == set(CASES["status-fake"]["reply"]["last_timings_ms"])
            assert set(status["llm"]) == set(CASES["status-fake"]["reply"]["llm"])
            assert status["llm"]["base_url"] == server.server.url and status["llm"]["backend"] == "external"
            shown = cli(d, "status").stdout.splitlines()
            assert shown[0].startswith(f"sisyphus {status['version']}, pid {status['pid']}, up ")
            assert shown[0].endswith("profile fake, idle (turn 1)"), shown
            for name, engine in status["engines"].items():
                row = [line for line in shown if line.startswith(name + " ")]
                assert len(row) == 1 and row[0].split()[1:4] == ["ready", "pid", str(engine["pid"])], shown
            assert f"speaker     file {tmp_path / 'out.wav'}" in shown
            assert f"llm         {status['llm']['summary']}" in shown

            voices = json.loads(cli(d, "voices", "list", "--json").stdout)
            assert voices == {k: v for k, v in CASES["voices-fake"]["reply"].items() if k != "ok"}
            golden = (Path(__file__).resolve().parents[1] / "fixtures" / "cli" / "voices-fake.txt").read_text()
            assert cli(d, "voices", "list").stdout == golden

            devices = json.loads(cli(d, "devices", "--json").stdout)
            assert {"input_device", "output_device", "input", "output"} <= set(devices)
            assert set(devices) <= set(CASES["devices-none"]["reply"]) | {"input_error", "output_error"}
            listing = cli(d, "devices").stdout
            assert "INPUT DEVICE" in listing or "input devices: none" in listing
    finally:
        server.stop()


def test_models_list_reads_as_the_golden_case(tmp_path):
    import os

    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    run = [sys.executable, "-m", "daemon.cli", "models", "list", "--profile", "cpu"]
    found = json.loads(subprocess.run([*run, "--json"], env=env, capture_output=True, text=True, check=True,
                                      timeout=60).stdout)
    golden = CASES["models-cpu"]["reply"]
    assert set(found) == set(golden) and [m["setting"] for m in found["models"]] == [
        m["setting"] for m in golden["models"]]
    assert all(set(m) == set(golden["models"][0]) and m["state"] == "missing" for m in found["models"])
    people = subprocess.run(run, env=env, capture_output=True, text=True, check=True, timeout=60).stdout
    assert people.splitlines()[1].split() == ["SETTING", "MODEL", "STATE", "SIZE", "WHERE"]
    assert people.count("run `sisyphus setup --profile cpu`") == 2


def test_doctor_reports_as_json_too(tmp_path):
    import os

    config = tmp_path / "config.toml"
    config.write_text('[daemon]\nprofile = "fake"\n')
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    run = [sys.executable, "-m", "daemon.cli", "--config", str(config), "doctor", "--no-llm"]
    people = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    found = json.loads(subprocess.run([*run, "--json"], env=env, capture_output=True, text=True, timeout=120).stdout)
    titles = [c["title"] for c in found["checks"]]
    assert titles and all(set(c) == {"title", "status", "detail", "fix"} for c in found["checks"])
    assert all(title in people.stdout for title in titles)  # the same checks, for people
    assert found["problems"] == sum(c["status"] == "FAIL" for c in found["checks"])
