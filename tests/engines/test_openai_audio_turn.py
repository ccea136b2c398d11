"""A whole spoken turn through the real daemon with both of OUR engines reached over their OpenAI audio
side (``--http``): ``[tts] uri`` and ``[asr] uri`` are ``http://127.0.0.1:PORT/v1``. The engines run the
tiny random-weight models on CPU in their own venvs (the ASR engine with SISYPHUS_ASR_FORCED_RATE, so
random weights still write a transcript); the LLM is the local OpenAI-protocol server."""
from __future__ import annotations

import os
import subprocess
import wave

import numpy as np
import pytest

from engines.protocol.transport import free_port
from tests.support.daemon import Daemon, write_voiced_wav
from tests.support.openai_server import Script, ThreadedServer
from tests.support.spoken import our_tts_command
from tests.support.venvs import REPO

REPLY = "Hello there. This is our own engine, over HTTP."
SPEECH_S = 2.0


def start_engine(argv: list[str], log, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, cwd=REPO,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", **env})


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=20)


@pytest.fixture
def engines(tmp_path, tts_python, tiny_models, asr_python, tiny_model):
    """Both engines serving Wyoming on unix sockets and the OpenAI audio API on loopback ports."""
    tts_port, asr_port = free_port(), free_port()
    tts = our_tts_command(tts_python, tiny_models, tmp_path / "voices")
    tts[tts.index("{uri}")] = f"unix://{tmp_path / 'tts.sock'}"
    asr = [str(asr_python), "-m", "engines.asr", "--uri", f"unix://{tmp_path / 'asr.sock'}", "--model",
           str(tiny_model), "--device", "cpu"]
    logs = [open(tmp_path / f"{name}.log", "wb") for name in ("tts", "asr")]
    procs = [start_engine([*tts, "--http", f"127.0.0.1:{tts_port}"], logs[0], {}),
             start_engine([*asr, "--http", f"127.0.0.1:{asr_port}"], logs[1], {"SISYPHUS_ASR_FORCED_RATE": "4"})]
    try:
        yield {"tts": f"http://127.0.0.1:{tts_port}/v1", "asr": f"http://127.0.0.1:{asr_port}/v1"}
    finally:
        for proc in procs:
            stop(proc)
        for log in logs:
            log.close()


@pytest.mark.engine_venv("tts")
@pytest.mark.engine_venv("asr")
def test_a_spoken_turn_through_our_engines_over_http(tmp_path, engines):
    llm = ThreadedServer(default=Script(reply=REPLY))
    mic = write_voiced_wav(tmp_path / "mic.wav", SPEECH_S)
    config = {
        "llm": {"base_url": llm.server.url, "model": "test-model", "api_key": "sk-test", "timeout_s": 30},
        "asr": {"uri": engines["asr"], "request_timeout_s": 120},
        "tts": {"uri": engines["tts"], "request_timeout_s": 120},
        "audio": {"min_press_ms": 100, "earcons": False},
        "supervisor": {"backoff_initial_s": 0.2, "backoff_max_s": 1.0, "probe_timeout_s": 10,
                       "health_interval_s": 5},
    }
    d = Daemon(tmp_path, config, "--fake-engines", "--mic-file", str(mic), "--speaker-file", str(tmp_path / "out.wav"))
    try:
        with d.start(timeout=300):  # the engines load their models meanwhile (503, then ready)
            for name in ("asr", "tts"):
                status = d.status()["engines"][name]
                assert status["remote"] and status["uri"] == engines[name] and "OpenAI audio API" in status["about"]
            assert d.ctl("list-voices")["voices"], "the engine's voices, from GET /v1/audio/voices"
            start = d.turn(hold_s=SPEECH_S + 0.3)
            end = d.turn_end(start, timeout=240)
            assert "error" not in d.kinds(start), d.kinds(start)
            heard = [e["text"] for e in d.events[start:end] if e["kind"] == "transcript" and e["final"]]
            assert len(heard) == 1 and heard[0].strip(), heard
            assert llm.server.chats[0].body["messages"][-1] == {"role": "user", "content": heard[0]}
            spoken = [e["text"] for e in d.events[start:end] if e["kind"] == "speech"]
            assert "".join(spoken) == REPLY
            assert "first_audio" in d.events[end]["timings"]
        with wave.open(str(tmp_path / "out.wav")) as wav:
            assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (24000, 2, 1)
            samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
        assert samples.size > 2400 and np.abs(samples).max() > 0, "the engine's audio reached the speaker"
    finally:
        llm.stop()
