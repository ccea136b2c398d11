"""Whole turns through the real daemon: fake engines as subprocesses, a real local OpenAI-protocol
server, the daemon headless and driven through its control socket; the events are the assertions."""
from __future__ import annotations

import wave

import pytest

from tests.support.daemon import Daemon, fake_engine_command, write_tone_wav
from tests.support.openai_server import Script, ThreadedServer

QUESTION = "What is the weather in Paris?"


@pytest.fixture
def llm():
    server = ThreadedServer(default=Script(reply="It is sunny in Paris today. Enjoy your walk!"))
    yield server.server
    server.stop()


def settings(llm_url: str, **sections) -> dict:
    base = {
        "llm": {"base_url": llm_url, "model": "test-model", "api_key": "sk-test-secret-123", "max_retries": 1,
                "timeout_s": 5},
        "asr": {"command": fake_engine_command("asr", "--transcript", QUESTION), "ready_timeout_s": 20},
        "tts": {"command": fake_engine_command("tts"), "voice": "bass", "ready_timeout_s": 20},
        "audio": {"min_press_ms": 100, "earcons": False},
        "supervisor": {"backoff_initial_s": 0.05, "backoff_max_s": 0.3, "health_interval_s": 1.0},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return base


def daemon(tmp_path, server, **sections) -> Daemon:
    mic = write_tone_wav(tmp_path / "speech.wav", seconds=1.0)
    return Daemon(tmp_path, settings(server.url, **sections), "--fake-engines", "--mic-file", str(mic),
                  "--speaker-file", str(tmp_path / "out.wav"))


def states(d: Daemon, start: int, end: int | None = None) -> list[str]:
    return [e["state"] for e in d.events[start:end] if e["kind"] == "state"]


def test_full_turn_event_sequence_and_request(tmp_path, llm):
    with daemon(tmp_path, llm) as d:
        start = d.turn()
        end = d.turn_end(start)
        assert states(d, start, end + 1) == ["listening", "thinking", "speaking", "idle"]
        kinds = d.kinds(start)
        for kind in ("transcript", "reply", "speech", "playback"):
            assert kind in kinds
        finals = [e for e in d.events[start:] if e["kind"] == "transcript" and e["final"]]
        assert [e["text"] for e in finals] == [QUESTION]
        partials = [e for e in d.events[start:] if e["kind"] == "transcript" and not e["final"]]
        assert partials and partials[-1]["text"] == QUESTION
        spoken = "".join(e["text"] for e in d.events[start:] if e["kind"] == "speech")
        assert "sunny in Paris" in spoken
        playback = [e["started"] for e in d.events[start:] if e["kind"] == "playback"]
        assert playback == [True, False]
        timings = d.events[end]["timings"]
        assert 0 <= timings["transcript"] <= timings["first_token"] <= timings["first_audio"] <= timings["end"]
        status = d.status()
        assert status["last_timings_ms"] == timings
        # the LLM got the transcript after the system prompt, with the key
        body = llm.chats[0].body
        assert body["messages"][0]["role"] == "system"
        assert body["messages"][-1] == {"role": "user", "content": QUESTION}
        assert body["stream"] is True and body["model"] == "test-model"
        assert llm.chats[0].headers.get("authorization") == "Bearer sk-test-secret-123"
        # second turn carries the history
        start2 = d.turn()
        d.turn_end(start2)
        messages = llm.chats[1].body["messages"]
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
        assert "sunny in Paris" in messages[2]["content"]
    with wave.open(str(tmp_path / "out.wav")) as wav:
        assert wav.getframerate() == 24000 and wav.getnframes() > 24000  # the replies were played
    assert "sk-test-secret-123" not in d.log.read_text()


def test_a_twenty_second_reply_is_recorded_whole(tmp_path, llm):
    """--speaker-file keeps up with any reply length (the fake TTS speaks 20 ms per character)."""
    long_reply = "".join(f"This is sentence number {n} of a long answer. " for n in range(1, 26))
    llm.enqueue(Script(reply=long_reply))
    with daemon(tmp_path, llm) as d:
        start = d.turn()
        end = d.turn_end(start, timeout=60)
        assert "error" not in d.kinds(start), d.kinds(start)
        spoken = [e["text"] for e in d.events[start:end] if e["kind"] == "speech"]
        assert "".join(spoken) == long_reply
        nxt = d.turn()  # the history holds the whole reply, not marked as interrupted
        d.turn_end(nxt)
        assert llm.chats[1].body["messages"][2]["content"] == long_reply
    expected = sum(max(0.1, len(chunk.strip()) * 0.02) for chunk in spoken)
    with wave.open(str(tmp_path / "out.wav")) as wav:
        first_reply = wav.getnframes() / wav.getframerate() - len("It is sunny in Paris today. Enjoy your walk!") * 0.02
    assert expected > 20 and abs(first_reply - expected) < 0.5, (first_reply, expected)


def test_barge_in_during_speaking(tmp_path, llm):
    long_reply = "This is a long answer. " * 30
    llm.enqueue(Script(reply=long_reply, delta_delay_s=0.02))
    with daemon(tmp_path, llm) as d:
        start = d.turn()
        speaking = d.wait_state("speaking", start)
        barge = d.turn()
        d.turn_end(barge)
        assert states(d, speaking, None)[:4] == ["speaking", "listening", "thinking", "speaking"]
        interrupted = [e for e in d.events[start:barge + 2] if e["kind"] == "playback"]
        assert interrupted[0]["started"] is True
        history = llm.chats[1].body["messages"]
        assert history[2]["role"] == "assistant" and history[2]["content"] != long_reply
        assert "interrupt" in history[2]["content"].lower() or history[2]["content"].endswith("—")
        assert d.status()["state"] == "idle"


def test_stop_ends_speech_without_listening(tmp_path, llm):
    llm.enqueue(Script(reply="Words. " * 60, delta_delay_s=0.01))
    with daemon(tmp_path, llm) as d:
        start = d.turn()
        d.wait_state("speaking", start)
        d.ctl("stop")
        idle = d.wait_state("idle", start)
        assert "listening" not in states(d, start + 2, idle + 1)


@pytest.mark.parametrize("script,attempts,code", [
    (Script(status=401, error_message="invalid api key"), 1, "llm_auth"),
    (Script(status=404, error_message="model not found"), 1, "llm_model_not_found"),
    (Script(status=500), 2, "llm_server_error"),  # retried once before the first token
])
def test_llm_failures_end_the_turn_with_a_clear_error(tmp_path, llm, script, attempts, code):
    llm.enqueue(*[script] * attempts)
    with daemon(tmp_path, llm) as d:
        start = d.turn()
        i = d.wait_event(lambda e: e["kind"] == "error", start=start)
        assert d.events[i]["code"] == code and d.events[i]["text"]
        d.wait_state("idle", start)
        nxt = d.turn()
        d.turn_end(nxt)  # and the next turn works
        assert "error" not in d.kinds(nxt)


def test_llm_stream_cut_mid_sentence_keeps_what_was_said(tmp_path, llm):
    llm.enqueue(Script(reply="The first sentence is complete. The second one is cut", disconnect_after=7))
    with daemon(tmp_path, llm) as d:
        start = d.turn()
        i = d.wait_event(lambda e: e["kind"] == "error", start=start)
        assert d.events[i]["code"] == "llm_stream_cut"
        d.wait_state("idle", start)
        spoken = "".join(e["text"] for e in d.events[start:] if e["kind"] == "speech")
        assert "first sentence" in spoken
        nxt = d.turn()
        d.turn_end(nxt)
        assistant = llm.chats[1].body["messages"][2]
        assert assistant["role"] == "assistant" and "first sentence" in assistant["content"]


def test_unreachable_llm(tmp_path, llm):
    with daemon(tmp_path, llm, llm={"base_url": "http://127.0.0.1:9/v1", "max_retries": 0}) as d:
        start = d.turn()
        i = d.wait_event(lambda e: e["kind"] == "error", start=start)
        assert d.events[i]["code"] == "llm_unreachable" and "127.0.0.1:9" in d.events[i]["text"]


def test_tts_engine_dying_mid_stream_then_recovering(tmp_path, llm):
    # one synthesize request per chunk: the first reply is two chunks, the second turn's first one crashes it
    tts = {"command": fake_engine_command("tts", "--crash-after", "2")}
    with daemon(tmp_path, llm, tts=tts) as d:
        first = d.turn()
        d.turn_end(first)
        second = d.turn()
        i = d.wait_event(lambda e: e["kind"] == "error", start=second)
        assert d.events[i]["code"] == "engine_died" and "tts" in d.events[i]["text"]
        d.wait_event(lambda e: e["kind"] == "engine" and e["name"] == "tts" and e["state"] == "ready", start=i)
        third = d.turn()
        d.turn_end(third)
        assert "error" not in d.kinds(third)


def test_failed_engine_reports_what_to_do(tmp_path, llm):
    asr = {"command": fake_engine_command("asr", "--missing-model", "/models/glm-asr")}
    with daemon(tmp_path, llm, asr=asr).start(ready=("tts",)) as d:
        d.wait(lambda: d.status()["engines"]["asr"]["state"] == "failed", 20, "asr failed")
        start = d.turn()
        i = d.wait_event(lambda e: e["kind"] == "error", start=start)
        assert d.events[i]["code"] == "engine_failed"
        assert "/models/glm-asr" in d.events[i]["text"] and "Restart engines" in d.events[i]["text"]
        assert llm.chats == []  # no LLM call without a transcript


def test_silence_ends_the_turn_quietly(tmp_path, llm):
    asr = {"command": fake_engine_command("asr")}
    d = Daemon(tmp_path, settings(llm.url, asr=asr), "--fake-engines", "--mic-file",
               str(write_tone_wav(tmp_path / "quiet.wav", freq=300.0, seconds=1.0)), "--no-audio")
    (tmp_path / "quiet.wav").write_bytes((tmp_path / "quiet.wav").read_bytes()[:44] + bytes(32000))
    with d:
        start = d.turn()
        d.wait_state("idle", start + 1)
        assert "error" not in d.kinds(start) and llm.chats == []


def test_second_daemon_refuses_to_start(tmp_path, llm):
    with daemon(tmp_path, llm) as d:
        import subprocess
        import sys

        second = subprocess.run([sys.executable, "-m", "daemon.cli", "--config", str(d.config), "run", "--headless",
                                 "--fake-engines"], env=d.env, capture_output=True, text=True, timeout=30)
        assert second.returncode == 3 and "already running" in second.stderr
        assert d.status()["state"] == "idle"
