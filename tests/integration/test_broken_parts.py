"""A daemon started with a part it cannot build exits at once, non-zero, with the reason on stderr.

Before the parts existed as one object, a rejected --mic-file left the daemon hanging for ever
in shutdown after it had spawned the engines (its ValueError never shown).
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.integration.test_conversation import settings
from tests.support.daemon import Daemon, write_tone_wav

EXIT_WITHIN_S = 15  # generous for a loaded 2-core CI machine; a hang would run into the timeout


def start_broken(tmp_path, conf: dict, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    d = Daemon(tmp_path, conf)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "daemon.cli", "--config", str(d.config), "run", "--headless",
                             "--fake-engines", "--no-audio", *args], env=d.env, capture_output=True, text=True, timeout=60)
    return result, time.monotonic() - started


def text_file(path):
    path.write_text("these are not audio samples")
    return path


def leftovers(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "run" / "sisyphus").glob("*") if p.name != "daemon.lock")


@pytest.mark.parametrize("make_mic, expected", [
    (lambda tmp: text_file(tmp / "notes.wav"), "RIFF"),
    (lambda tmp: tmp / "missing.wav", "No such file"),
    (lambda tmp: tmp, "Is a directory"),
], ids=["not-a-wav", "missing", "a-directory"])
def test_unusable_mic_file_exits_with_the_reason(tmp_path, make_mic, expected):
    mic = make_mic(tmp_path)
    result, elapsed = start_broken(tmp_path, settings("http://127.0.0.1:9/v1"), "--mic-file", str(mic))
    assert result.returncode != 0
    assert elapsed < EXIT_WITHIN_S, f"took {elapsed:.1f} s"
    assert f"sisyphus: could not start: --mic-file {mic}" in result.stderr and expected in result.stderr, \
        result.stderr
    assert "Traceback" not in result.stderr
    assert leftovers(tmp_path) == []  # no engine sockets, no control socket: everything was closed


def test_engine_command_that_does_not_exist_exits_with_the_reason(tmp_path):
    conf = settings("http://127.0.0.1:9/v1")
    conf["asr"]["command"] = ["/nonexistent/wyoming-server", "--uri", "{uri}"]
    mic = write_tone_wav(tmp_path / "speech.wav")
    result, elapsed = start_broken(tmp_path, conf, "--mic-file", str(mic))
    assert result.returncode != 0 and elapsed < EXIT_WITHIN_S
    assert "[asr] command: '/nonexistent/wyoming-server' is not a program" in result.stderr, result.stderr
    assert leftovers(tmp_path) == []


def test_a_speaker_file_in_a_folder_that_does_not_exist_exits_with_the_reason(tmp_path):
    # It used to be accepted: the first reply then logged tracebacks and stayed Speaking until quit.
    out = tmp_path / "no-such-folder" / "reply.wav"
    result, elapsed = start_broken(tmp_path, settings("http://127.0.0.1:9/v1"), "--speaker-file", str(out))
    assert result.returncode != 0 and elapsed < EXIT_WITHIN_S, f"took {elapsed:.1f} s"
    assert (f"sisyphus: could not start: --speaker-file {out}: the folder {out.parent} does not exist; "
            f"create it (mkdir -p {out.parent})") in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert leftovers(tmp_path) == []
