"""End to end with real speech, the cpu profile and no GPU: what a user without a GPU runs.

Under the headless harness: a real OpenAI-protocol server (subprocess) that answers about the
weather only when asked about it; the real daemon (``sisyphus run --profile cpu``) with the
upstream wyoming-faster-whisper and wyoming-piper engines from the test venvs, the pynput
hotkey on the Xvfb display, and the PulseAudio default devices (vmic in, spk out).
A spoken question (espeak-ng) is played into the virtual mic while F9 is held (xdotool); the
speakers' monitor is recorded and transcribed by a second, independent Whisper run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest
import tomli_w

from daemon.control import NotRunning, request
from tests.support.spoken import transcribe
from tests.support.venvs import engine_python

pytestmark = pytest.mark.desktop
REPO = Path(__file__).resolve().parents[2]
# Worded so Whisper tiny.en hears espeak-ng right at any speed ("What will the weather be like"
# came out as "winner" or "We'll never"); both key words mean the weather.
QUESTION = "What is the weather forecast for Paris tomorrow?"
WEATHER_WORDS = ("weather", "forecast")
ANSWER = "It will be sunny in Paris tomorrow."

class LlmServer:
    """tests.support.openai_server as a subprocess with one weather rule."""

    def __init__(self, tmp: Path) -> None:
        script = {"rules": [{"match": word, "reply": ANSWER} for word in WEATHER_WORDS],
                  "default": {"reply": "I only know about the weather."}}
        (tmp / "script.json").write_text(json.dumps(script))
        self.log = tmp / "requests.jsonl"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.openai_server", "--port", "0",
             "--script", str(tmp / "script.json"), "--log", str(self.log)],
            cwd=REPO, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), f"openai_server did not start: {line!r}"
        self.url = f"http://127.0.0.1:{int(line.split()[1])}/v1"

    def user_texts(self) -> list[str]:
        if not self.log.exists():
            return []
        texts = []
        for line in self.log.read_text().splitlines():
            body = json.loads(line)["body"] or {}
            texts += [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
        return texts

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _data_home(tmp: Path) -> Path:
    """XDG_DATA_HOME whose sisyphus/venvs/{whisper,piper} are the test suite's engine venvs."""
    venvs = tmp / "data" / "sisyphus" / "venvs"
    venvs.mkdir(parents=True)
    for name in ("whisper", "piper"):
        (venvs / name).symlink_to(engine_python(name).parent.parent)
    return tmp / "data"


def _start_daemon(tmp: Path, llm_url: str) -> tuple[subprocess.Popen, Path, Path]:
    config = tmp / "config.toml"
    config.write_text(tomli_w.dumps({
        "daemon": {"profile": "cpu"},
        "llm": {"base_url": llm_url, "model": "test-model", "api_key": "sk-test"},
        "hotkey": {"backend": "pynput", "chord": "<f9>", "mode": "ptt"},
        "tray": {"backend": "dummy"},
        "audio": {"earcons": False},
        "asr": {"ready_timeout_s": 120.0}, "tts": {"ready_timeout_s": 120.0},
    }))
    env = {**os.environ, "XDG_DATA_HOME": str(_data_home(tmp)), "XDG_STATE_HOME": str(tmp / "state"),
           "XDG_CONFIG_HOME": str(tmp / "cfg"), "XDG_CACHE_HOME": str(tmp / "cache"),
           "XDG_RUNTIME_DIR": str(tmp / "run"), "PYTHONUNBUFFERED": "1"}
    (tmp / "run").mkdir(mode=0o700)
    log = tmp / "daemon.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "daemon.cli", "--config", str(config), "run",
                                 "--profile", "cpu"], env=env, stdout=out, stderr=out, cwd=REPO)
    return proc, tmp / "run" / "sisyphus", log


def _wait_ready(proc: subprocess.Popen, sock: Path, log: Path, timeout: float = 150) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"daemon exited {proc.returncode}:\n{log.read_text()[-4000:]}"
        try:
            engines = request(sock, {"cmd": "status"}, timeout=5)["engines"]
            if all(engines[n]["state"] == "ready" for n in ("asr", "tts")):
                return
        except (NotRunning, OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"engines not ready in {timeout} s; log:\n{log.read_text()[-4000:]}")


def _speak_question(tmp: Path) -> None:
    """Hold F9 on the X display while the spoken question plays into the virtual mic."""
    wav = tmp / "question.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), QUESTION], check=True, timeout=30)
    subprocess.run(["xdotool", "keydown", "F9"], check=True, timeout=10)
    try:
        time.sleep(0.4)
        subprocess.run(["paplay", "--device=micsink", str(wav)], check=True, timeout=60)
        time.sleep(0.5)
    finally:
        subprocess.run(["xdotool", "keyup", "F9"], check=True, timeout=10)


def _wait_turn_end(sock: Path, log: Path, timeout: float = 90) -> dict:
    """The turn's timings, once the daemon has finished speaking the answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = request(sock, {"cmd": "status"}, timeout=5)
        if reply.get("last_timings_ms") and reply["state"] == "idle":
            return reply["last_timings_ms"]
        time.sleep(0.2)
    raise AssertionError(f"the turn did not end within {timeout} s; log:\n{log.read_text()[-4000:]}")


def _record_answer(tmp: Path, sock: Path, log: Path) -> tuple[Path, dict]:
    """Record spk.monitor (the speakers) from before the question until the answer was spoken."""
    raw = tmp / "speakers.raw"
    with open(raw, "wb") as out:
        rec = subprocess.Popen(["parec", "-d", "spk.monitor", "--raw", "--rate", "16000", "--channels", "1",
                                "--format", "s16le", "--latency-msec", "20"], stdout=out)
        try:
            _speak_question(tmp)
            timings = _wait_turn_end(sock, log)
            time.sleep(1.0)  # the last audio chunk still on its way through PulseAudio
        finally:
            rec.terminate()
            rec.wait(10)
    wav = tmp / "speakers.wav"
    _raw_to_wav(raw, wav)
    return wav, timings


def _raw_to_wav(raw: Path, wav: Path) -> None:
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(raw.read_bytes())


def _closeness(heard: str, said: str) -> float:
    """0..1: how alike two sentences are, letters and spaces only, case ignored."""
    import difflib
    import re

    def norm(text: str) -> str:
        return " ".join(re.sub(r"[^a-z ]", " ", text.lower()).split())

    return difflib.SequenceMatcher(None, norm(heard), norm(said)).ratio()


def test_spoken_weather_question_gets_a_spoken_answer(tmp_path: Path) -> None:
    whisper = engine_python("whisper")
    llm = LlmServer(tmp_path)
    proc, sock, log = _start_daemon(tmp_path, llm.url)
    try:
        _wait_ready(proc, sock, log)
        time.sleep(1.0)  # the pynput listener and the input stream settle
        wav, timings = _record_answer(tmp_path, sock, log)
        print(f"turn timings (ms from key-up): {timings}")
        asked = llm.user_texts()
        assert any(w in t.lower() for t in asked for w in WEATHER_WORDS), (
            f"the LLM server never saw the weather question; it saw {asked}; log:\n{log.read_text()[-4000:]}")
        heard = transcribe(whisper, wav)
        # The answer went piper -> PulseAudio -> a recording -> whisper: under load a PulseAudio glitch can
        # bend one word ("Paris" heard as "pears"), so the whole sentence must match closely, not every word.
        assert "sunny" in heard.lower() and _closeness(heard, ANSWER) >= 0.8, (
            f"the speakers said {heard!r}; the LLM was asked {asked}; log:\n{log.read_text()[-3000:]}")
    finally:
        try:
            request(sock, {"cmd": "quit"}, timeout=5)
            proc.wait(20)
        except (NotRunning, OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        llm.stop()
