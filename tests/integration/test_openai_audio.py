"""Whole turns through the real daemon with its speech engines behind the OpenAI audio API:
``[tts] uri`` and ``[asr] uri`` point at a real local HTTP server (aiohttp) that streams the way
vLLM-Omni documents; the LLM is the local OpenAI-protocol server. The events, the speaker file
and the server's records are the assertions."""
from __future__ import annotations

import time
import wave

import pytest

from daemon.control import request
from tests.integration.test_conversation import settings
from tests.support.daemon import Daemon, write_tone_wav
from tests.support.openai_server import Script, ThreadedServer
from tests.support.speech_server import ThreadedSpeechServer

KEY = "sk-speech-secret-456"
REPLY = "It is sunny in Paris today. Enjoy your walk!"


@pytest.fixture
def llm():
    server = ThreadedServer(default=Script(reply=REPLY))
    yield server.server
    server.stop()


def http_daemon(tmp_path, llm, speech, **overrides) -> Daemon:
    mic = write_tone_wav(tmp_path / "speech.wav", seconds=1.0)
    engines = {
        "tts": {"uri": speech.url, "model": speech.tts_model, "voice": "vivian", "language": "en",
                "request_timeout_s": 1.5},
        "asr": {"uri": speech.url, "model": speech.asr_model, "request_timeout_s": 1.5},
        "supervisor": {"backoff_initial_s": 0.05, "backoff_max_s": 0.3, "health_interval_s": 0.5,
                       "probe_timeout_s": 1.0},
    }
    for name, values in overrides.items():
        engines.setdefault(name, {}).update(values)
    config = settings(llm.url, **engines)
    for name in ("asr", "tts"):
        config[name].pop("command")  # the uri wins anyway; this keeps the file honest
    return Daemon(tmp_path, config, "--fake-engines", "--mic-file", str(mic), "--speaker-file",
                  str(tmp_path / "out.wav"), env={"SISYPHUS_TTS_API_KEY": KEY, "SISYPHUS_ASR_API_KEY": KEY})


def engine(d: Daemon, name: str) -> dict:
    return d.status()["engines"][name]


def ended(d: Daemon, start: int, timeout: float = 30) -> dict:
    return d.events[d.wait_event(lambda e: e["kind"] in ("error", "timings"), start=start, timeout=timeout)]


@pytest.mark.parametrize("server", ["stream_format audio", "sse", "refuses stream"])
def test_a_spoken_turn_through_an_openai_audio_server(tmp_path, llm, server):
    """Raw chunked PCM (vLLM-Omni with stream_format audio), SSE (a server that answers stream:true
    with speech.audio.delta events), and a server that refuses the non-OpenAI `stream` field."""
    speech = ThreadedSpeechServer(api_key=KEY, sse_only=server == "sse", refuse_stream=server == "refuses stream")
    fake = speech.server
    try:
        with http_daemon(tmp_path, llm, fake) as d:
            start = d.turn()
            end = d.turn_end(start)
            assert "error" not in d.kinds(start), d.kinds(start)
            assert [e["text"] for e in d.events[start:end] if e["kind"] == "transcript" and e["final"]] \
                == [fake.transcript]
            partials = [e["text"] for e in d.events[start:end] if e["kind"] == "transcript" and not e["final"]]
            assert bool(partials) == (server != "refuses stream"), partials  # the server's deltas, live
            assert llm.chats[0].body["messages"][-1] == {"role": "user", "content": fake.transcript}
            status = engine(d, "tts")
            assert status["remote"] and status["uri"] == fake.url and "OpenAI audio API" in status["about"]
            voices = {v["name"]: v["description"] for v in d.ctl("list-voices")["voices"]}
            assert {"aiden", "ryan", "vivian", "grandpa"} <= set(voices) and "cloned" in voices["grandpa"]
            refused = request(d.runtime, {"cmd": "remove-voice", "name": "grandpa"})
            assert not refused["ok"] and "the OpenAI audio API clones no voices" in refused["error"], refused
        spoken = [r for r in fake.spoken if not r.cut]
        chunks = [e["text"] for e in d.events[start:end] if e["kind"] == "speech"]
        assert [r.body["input"] for r in spoken] == chunks and "".join(chunks) == REPLY  # one request per chunk
        for r in spoken:
            assert r.body["voice"] == "vivian" and r.body["model"] == fake.tts_model
            assert r.body["language"] == "English"  # [tts] language "en", named as vLLM-Omni wants
            assert r.body["response_format"] == "pcm" and r.body["stream_format"] == "audio"
            assert r.headers["Authorization"] == f"Bearer {KEY}"
            assert r.form == ("sse" if server == "sse" else "pcm")
        with wave.open(str(tmp_path / "out.wav")) as wav:  # the server's audio, in order, byte for byte
            assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (24000, 2, 1)
            assert wav.readframes(wav.getnframes()) == b"".join(r.audio for r in spoken)
        upload = fake.transcriptions[-1]
        assert upload["model"] == fake.asr_model and upload["response_format"] == "json"
        assert upload["file"][:4] == b"RIFF" and len(upload["file"]) > 16000  # the held second, as WAV
        assert KEY not in d.log.read_text()
    finally:
        speech.close()


def test_a_speech_server_that_is_down_fails_the_turn_fast_and_is_reconnected(tmp_path, llm):
    speech = ThreadedSpeechServer()
    try:
        with http_daemon(tmp_path, llm, speech.server) as d:
            speech.down()
            refused = f"connection refused to {speech.server.url}"
            d.wait(lambda: refused in engine(d, "tts")["last_error"], 10, "the refusal in status")
            assert engine(d, "tts")["state"] in ("backoff", "starting")
            start = d.turn()
            released = time.monotonic()
            error = ended(d, start)
            assert time.monotonic() - released < 5, "the turn waited for a server that is not there"
            assert error["kind"] == "error" and error["code"] == "engine_unavailable", error
            assert refused in error["text"], error
            speech.up()
            for name in ("asr", "tts"):
                d.wait(lambda n=name: engine(d, n)["state"] == "ready", 15, f"{name} ready again")
            start = d.turn()
            assert ended(d, start)["kind"] == "timings", d.kinds(start)
    finally:
        speech.close()


@pytest.mark.parametrize("fault, words", [("500", "answered HTTP 500: EngineDeadError"),
                                          ("slow", "sent nothing for 1.5 s")])
def test_a_failing_speech_server_fails_the_turn_with_its_reason_and_recovers(tmp_path, llm, fault, words):
    speech = ThreadedSpeechServer()
    try:
        with http_daemon(tmp_path, llm, speech.server) as d:
            speech.server.fail = fault
            start = d.turn()
            released = time.monotonic()
            error = ended(d, start)
            assert time.monotonic() - released < 10, "the turn waited too long for a failing server"
            assert error["kind"] == "error" and words in error["text"], error
            d.wait_state("idle", start)
            # the health probe sees it too: the state says why, with the server's words
            d.wait(lambda: engine(d, "asr")["state"] in ("backoff", "unhealthy", "starting"), 10, "asr not ready")
            assert engine(d, "asr")["last_error"] or engine(d, "asr")["reason"]
            speech.server.fail = ""
            for name in ("asr", "tts"):
                d.wait(lambda n=name: engine(d, n)["state"] == "ready", 15, f"{name} ready again")
            start = d.turn()
            assert ended(d, start)["kind"] == "timings", d.kinds(start)
    finally:
        speech.close()


def test_a_wrong_key_or_model_is_shown_with_the_fix(tmp_path, llm):
    speech = ThreadedSpeechServer(api_key="another-key")
    try:
        d = http_daemon(tmp_path, llm, speech.server, tts={"model": "tts-1"})
        with d.start(ready=()):
            d.wait(lambda: "401" in engine(d, "asr")["last_error"], 10, "the refused key in status")
            assert "SISYPHUS_ASR_API_KEY" in engine(d, "asr")["last_error"]
            speech.server.api_key = KEY
            d.wait(lambda: "not 'tts-1'" in engine(d, "tts")["last_error"], 10, "the wrong model in status")
            assert "[tts] model" in engine(d, "tts")["last_error"]
            d.wait(lambda: engine(d, "asr")["state"] == "ready", 10, "asr ready with the right key")
    finally:
        speech.close()


def test_barge_in_closes_the_speech_request(tmp_path, llm):
    """The server streams slower than real time here, so a barge-in finds a request still open: the
    daemon closes it (the server's next write fails), and the next turn is answered."""
    llm.enqueue(Script(reply="This answer is one long sentence that takes the speech server a while to say. "
                             "And another one after it, which should never be asked for."))
    speech = ThreadedSpeechServer(chunk_delay_s=0.05)
    try:
        with http_daemon(tmp_path, llm, speech.server) as d:
            start = d.turn()
            d.wait_state("speaking", start)
            barge = d.turn()
            d.turn_end(barge, timeout=30)
            d.wait(lambda: any(r.cut for r in speech.server.spoken), 10, "the server to see the request closed")
            first = [r for r in speech.server.spoken if r.body["input"].startswith("This answer")]
            assert first and first[0].cut
            assert not any(r.body["input"].startswith("And another") for r in speech.server.spoken)
    finally:
        speech.close()
