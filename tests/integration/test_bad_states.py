"""Every bad state says why and ends in Idle: the real daemon, headless, fake engines as subprocesses.

No microphone or speaker (a headless box), a voice the engine does not offer: `status` names the
problem and its CLI fix (there is no tray menu headless), a turn ends at once with that error
instead of "no speech", and `status` keeps the turn's last error.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.integration.test_conversation import settings
from tests.support.daemon import Daemon, write_tone_wav
from tests.support.openai_server import Script, ThreadedServer


@pytest.fixture
def llm():
    server = ThreadedServer(default=Script(reply="It is sunny in Paris today."))
    yield server.server
    server.stop()


def cli(d: Daemon, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "daemon.cli", "--config", str(d.config), *args], env=d.env,
                          capture_output=True, text=True, timeout=60)


def test_a_headless_daemon_without_microphone_or_speaker_says_so_and_how_to_fix_it(tmp_path, llm):
    # Devices that are not there stand for a box without any: the same failed open at start.
    conf = settings(llm.url, audio={"input_device": "no-such-microphone", "output_device": "no-such-speaker",
                                    "earcons": True})
    with Daemon(tmp_path, conf, "--fake-engines") as d:  # headless, no --no-audio: the real device path
        audio = d.status()["audio"]
        assert audio["input"].startswith("no microphone: ") and audio["output"].startswith("no speaker: "), audio
        assert "`sisyphus set-input-device NAME`" in audio["input"] and "`sisyphus devices`" in audio["input"]
        assert "`sisyphus set-output-device NAME`" in audio["output"]
        assert "tray" not in audio["input"] + audio["output"]
        shown = cli(d, "status")
        assert shown.returncode == 0 and "\nmicrophone  no microphone: " in shown.stdout, shown.stdout
        start = len(d.events)
        d.ctl("ptt", action="press")
        error = d.events[d.wait_event(lambda e: e["kind"] == "error", start=start)]
        assert error["code"] == "audio_device" and error["text"].startswith("no microphone: ")
        d.wait_state("idle", start)
        assert "no speech" not in d.log.read_text()
        last = d.status()["last_error"]
        assert last["code"] == "audio_device" and last["turn"] == error["turn"] and last["text"] == error["text"]
        assert llm.chats == []


def test_a_voice_the_engine_does_not_offer_is_refused_and_a_saved_one_falls_back(tmp_path, llm):
    conf = settings(llm.url, tts={"voice": "Vivian"})  # saved while another engine ran; the fake has no Vivian
    mic = write_tone_wav(tmp_path / "speech.wav", seconds=1.0)
    speaker = tmp_path / "reply.wav"
    with Daemon(tmp_path, conf, "--fake-engines", "--mic-file", str(mic), "--speaker-file", str(speaker)) as d:
        d.wait(lambda: (d.status()["last_error"] or {}).get("code") == "unknown_voice", 20, "the voice check")
        assert "'Vivian'" in d.status()["last_error"]["text"] and "alto, bass, soprano" in \
            d.status()["last_error"]["text"]
        refused = cli(d, "set-voice", "Bogus")
        assert refused.returncode == 1 and "no voice named 'Bogus'; it offers: alto, bass, soprano" in \
            refused.stderr, refused.stderr
        assert "voice = \"Vivian\"" in d.config.read_text()  # nothing changed by the refusal
        start = d.turn()
        end = d.turn_end(start)
        assert "speaking" in [e.get("state") for e in d.events[start:end]]  # heard, in the default voice
        assert cli(d, "set-voice", "alto").returncode == 0
        assert json.loads(cli(d, "voices", "list", "--json").stdout)["current"] == "alto"


def test_an_llm_that_streams_for_ever_is_cut_at_max_reply_chars(tmp_path):
    endless = ThreadedServer(default=Script(deltas=["and so on, "] * 100_000))  # 1.1 M characters
    mic = write_tone_wav(tmp_path / "speech.wav", seconds=1.0)
    conf = settings(endless.server.url, llm={"max_reply_chars": 200})
    try:
        with Daemon(tmp_path, conf, "--fake-engines", "--mic-file", str(mic), "--no-audio") as d:
            start = d.turn()
            end = d.turn_end(start, timeout=60)
            spoken = "".join(e["text"] for e in d.events[start:end] if e["kind"] == "speech")
            assert 150 < len(spoken) <= 200, len(spoken)
            errors = [e for e in d.events[start:end] if e["kind"] == "error"]
            assert [e["code"] for e in errors] == ["llm_reply_too_long"] and "[llm] max_reply_chars" in \
                errors[0]["text"]
            status = d.status()
            assert status["state"] == "idle" and status["last_error"]["code"] == "llm_reply_too_long"
        record = endless.server.requests[-1]
        # the daemon hung up (what sockets had buffered was sent before that), not drained the stream
        assert record.client_disconnected and record.deltas_sent < 50_000, record.deltas_sent
    finally:
        endless.stop()
