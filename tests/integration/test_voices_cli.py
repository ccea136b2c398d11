"""`sisyphus voices list|add|remove|record` through the command table, the control socket and
the real daemon, against the fake TTS engine's x-voice-* answers."""
from __future__ import annotations

import contextlib
import json
import subprocess
import sys

from tests.integration.test_conversation import settings
from tests.support.openai_server import ThreadedServer
from tests.support.daemon import Daemon, write_tone_wav


def cli(d: Daemon, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daemon.cli", "--config", str(d.config), *args], env=d.env,
                          capture_output=True, text=True, timeout=60)


def names(d: Daemon) -> set[str]:
    listed = cli(d, "voices", "list")
    assert listed.returncode == 0, listed.stderr
    return {v["name"] for v in json.loads(listed.stdout)["voices"]}


@contextlib.contextmanager
def running(tmp_path, *args: str):
    server = ThreadedServer()
    try:
        with Daemon(tmp_path, settings(server.server.url), "--fake-engines", "--no-audio", *args) as d:
            yield d, server.server
    finally:
        server.stop()


def test_voices_add_list_remove_from_the_command_line(tmp_path):
    ref = write_tone_wav(tmp_path / "carol.wav", seconds=4.0, rate=22050)  # any rate: converted
    with running(tmp_path) as (d, _llm):
        assert {"alto", "bass", "soprano"} <= names(d) and "carol" not in names(d)
        added = cli(d, "voices", "add", "carol", "--audio", str(ref), "--text", "Hello, I am Carol.")
        assert added.returncode == 0, added.stderr
        assert "carol" in names(d)
        assert d.status()["engines"]["tts"]["state"] == "ready"
        assert cli(d, "voices", "remove", "carol").returncode == 0
        assert "carol" not in names(d)
        devices = cli(d, "devices")  # another table command through the same socket
        assert devices.returncode == 0 and json.loads(devices.stdout)["input_device"] == "default"


def test_bad_references_are_refused_with_the_reason(tmp_path):
    short = write_tone_wav(tmp_path / "short.wav", seconds=1.0)
    with running(tmp_path) as (d, _llm):
        refused = cli(d, "voices", "add", "carol", "--audio", str(short))
        assert refused.returncode == 1 and "at least 3 s" in refused.stderr, refused.stderr
        bad_name = cli(d, "voices", "add", "../etc", "--audio", str(short))
        assert bad_name.returncode == 1 and "voice name '../etc'" in bad_name.stderr
        missing = cli(d, "voices", "add", "carol", "--audio", str(tmp_path / "none.wav"))
        assert missing.returncode == 1 and "No such file" in missing.stderr and "ffmpeg" not in missing.stderr
        assert "carol" not in names(d)


def test_voices_record_names_the_recorded_voice(tmp_path):
    mic = write_tone_wav(tmp_path / "ref.wav", seconds=4.0)
    with running(tmp_path, "--mic-file", str(mic)) as (d, llm):
        start = len(d.events)
        assert cli(d, "voices", "record", "--name", "dave").returncode == 0
        d.turn(hold_s=4.3)
        i = d.wait_event(lambda e: e["kind"] == "notice" and e["title"] == "Voice added", start=start)
        assert "dave" in d.events[i]["text"]
        assert "dave" in names(d)
        assert llm.chats == []  # a recording is not a question
