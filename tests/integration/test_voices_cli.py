"""`sisyphus voices list|add|remove|record` through the command table, the control socket and
the real daemon, against the fake TTS engine's x-voice-* answers."""
from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time

from tests.integration.test_conversation import settings
from tests.support.openai_server import ThreadedServer
from tests.support.daemon import Daemon, write_tone_wav
from tests.support.venvs import engine_python


def cli(d: Daemon, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daemon.cli", "--config", str(d.config), *args], env=d.env,
                          capture_output=True, text=True, timeout=60)


def names(d: Daemon) -> set[str]:
    listed = cli(d, "voices", "list", "--json")
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
        devices = cli(d, "devices", "--json")  # another table command through the same socket
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


def test_voices_on_the_cpu_profile_say_at_once_what_would_serve_them(tmp_path):
    # The real cpu profile: wyoming-piper (one voice installed, 174 in its catalog) and
    # wyoming-faster-whisper from the test venvs. Piper never answers x-voice-* events: cloning
    # used to hang for 150 s and leave the state in Thinking.
    venvs = tmp_path / "data" / "sisyphus" / "venvs"
    venvs.mkdir(parents=True)
    for name in ("whisper", "piper"):
        (venvs / name).symlink_to(engine_python(name).parent.parent)
    server = ThreadedServer()
    conf = {"daemon": {"profile": "cpu"}, "llm": {"base_url": server.server.url, "model": "m", "api_key": "k"},
            "asr": {"ready_timeout_s": 120.0}, "tts": {"ready_timeout_s": 120.0}, "audio": {"earcons": False}}
    ref = write_tone_wav(tmp_path / "carol.wav", seconds=4.0)
    d = Daemon(tmp_path, conf, "--no-audio")
    try:
        d.start(timeout=150)
        listed = json.loads(cli(d, "voices", "list", "--json").stdout)
        assert [v["name"] for v in listed["voices"]] == ["en_US-joe-medium"]
        assert "cannot clone voices" in listed["cloning"]
        for args in (("voices", "add", "carol", "--audio", str(ref), "--text", "Hello, I am Carol."),
                     ("voices", "remove", "carol"), ("voices", "record")):
            started = time.monotonic()
            refused = cli(d, *args)
            assert refused.returncode == 1 and "cannot clone voices" in refused.stderr, (args, refused.stderr)
            assert "sisyphus' own TTS engine (Qwen3-TTS): the gpu profile" in refused.stderr
            assert "Traceback" not in refused.stderr and time.monotonic() - started < 30, args  # at once, not 150 s
        assert d.status()["state"] == "idle"
        unknown = cli(d, "set-voice", "en_US-lessac-high")  # in piper's catalog, not installed
        assert unknown.returncode == 1 and "it offers: en_US-joe-medium" in unknown.stderr, unknown.stderr
    finally:
        d.stop()
        server.stop()
