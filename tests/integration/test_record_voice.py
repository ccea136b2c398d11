"""'Record a new voice…' through the real daemon and fake engines: instruction, recording check,
ASR transcript as reference text, x-voice-add to the TTS engine, the voice in the menu and chosen."""
from __future__ import annotations

import tomllib

from tests.integration.test_conversation import QUESTION, settings
from tests.support.openai_server import ThreadedServer
from tests.support.daemon import Daemon, write_tone_wav
from daemon.assistant.voices import check_recording, next_name


def test_recording_checks():
    import numpy as np

    def pcm(seconds: float, amp: float) -> bytes:
        t = np.arange(int(16000 * seconds)) / 16000
        return (amp * 32767 * np.sin(2 * np.pi * 200 * t)).astype("<i2").tobytes()

    assert check_recording(pcm(4, 0.3)) == ""
    assert "at least 3 s" in check_recording(pcm(1, 0.3))
    assert "under 30 s" in check_recording(pcm(31, 0.3))
    assert "silent" in check_recording(pcm(4, 0.001))
    assert "clipped" in check_recording(pcm(4, 3.0))
    assert next_name({"alto", "my-voice-1", "my-voice-3"}) == "my-voice-4"


def run_recording(tmp_path, seconds: float):
    server = ThreadedServer()
    mic = write_tone_wav(tmp_path / "ref.wav", seconds=seconds)
    d = Daemon(tmp_path, settings(server.server.url), "--fake-engines", "--mic-file", str(mic), "--no-audio")
    return server, d


def test_record_a_new_voice(tmp_path):
    server, d = run_recording(tmp_path, seconds=4.0)
    try:
        with d:
            start = len(d.events)
            d.ctl("record-voice")
            i = d.wait_event(lambda e: e["kind"] == "notice", start=start)
            assert "Hold the hotkey and read aloud" in d.events[i]["text"]
            d.turn(hold_s=4.3)
            j = d.wait_event(lambda e: e["kind"] == "notice" and e["title"] == "Voice added", start=i + 1)
            assert "my-voice-1" in d.events[j]["text"] and QUESTION[:20] in d.events[j]["text"]
            voices = d.events[d.wait_event(lambda e: e["kind"] == "voices" and any(
                v[0] == "my-voice-1" and v[2] for v in e["voices"]), start=start)]["voices"]
            assert {"alto", "bass", "soprano", "my-voice-1"} == {v[0] for v in voices}
            d.wait_event(lambda e: e["kind"] == "settings" and e["key"] == "voice" and e["value"] == "my-voice-1",
                         start=j)
            assert tomllib.loads(d.config.read_text())["tts"]["voice"] == "my-voice-1"
            assert server.server.chats == []  # a recording is not a question
    finally:
        server.stop()


def test_too_short_recording_is_refused_with_advice(tmp_path):
    server, d = run_recording(tmp_path, seconds=1.0)
    try:
        with d:
            start = len(d.events)
            d.ctl("record-voice")
            d.turn(hold_s=1.2)
            i = d.wait_event(lambda e: e["kind"] == "error", start=start)
            assert d.events[i]["code"] == "voice_recording" and "at least 3 s" in d.events[i]["text"]
            d.wait_state("idle", start)
            # the next hold is an ordinary turn again
            nxt = d.turn()
            d.turn_end(nxt)
    finally:
        server.stop()
