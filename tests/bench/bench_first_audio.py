"""First complete sentence in the LLM stream -> first audio at the speaker, through the real daemon.

The LLM (tests.support.openai_server) writes a four-sentence reply at one word per 0.25 s;
the daemon runs headless with --mic-file/--speaker-file and either the cpu profile
(wyoming-faster-whisper + wyoming-piper, a question spoken by piper as the mic file) or
our TTS engine on the tiny random-weight model (a fake ASR gives the transcript).
Prints, per turn, the time from the reply delta that completed the first sentence to
the first audio handed to the speaker, and how long before the LLM's last token that was.

    SISYPHUS_TEST_VENVS=.cache/venvs .venv/bin/python tests/bench/bench_first_audio.py --engine cpu
    SISYPHUS_TEST_VENVS=.cache/venvs .venv/bin/python tests/bench/bench_first_audio.py --engine ours
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from daemon.audio.convert import convert_to_asr  # noqa: E402
from tests.engines.test_upstream import run_piper  # noqa: E402
from tests.support.daemon import Daemon, fake_engine_command, write_tone_wav, write_wav  # noqa: E402
from tests.support.spoken import (QUESTION, base_settings, first_audio_figures, link_cpu_venvs,  # noqa: E402
                                  our_tts_command, slow_llm)
from tests.support.venvs import VENVS  # noqa: E402


def setup(engine: str, tmp: Path, llm_url: str) -> tuple[dict, list[str], float]:
    """(settings, daemon arguments, seconds to hold the key) for one engine choice."""
    settings = base_settings(llm_url)
    if engine == "cpu":
        speech, rate, _ = asyncio.run(run_piper(tmp, QUESTION))
        pcm16k = np.frombuffer(convert_to_asr(speech.tobytes(), rate, 2, 1), "<i2")
        mic = write_wav(tmp / "mic.wav", pcm16k, 16000)
        link_cpu_venvs(tmp / "data", VENVS)
        return settings, ["--profile", "cpu", "--mic-file", str(mic)], len(pcm16k) / 16000 + 0.5
    models = tmp / "models"
    subprocess.run([str(VENVS / "tts" / "bin" / "python"), str(REPO / "tests/fixtures/tiny_qwen3tts.py"),
                    str(models)], check=True, capture_output=True, timeout=300)
    settings["asr"]["command"] = fake_engine_command("asr", "--transcript", QUESTION)
    settings["tts"]["command"] = our_tts_command(VENVS / "tts" / "bin" / "python",
                                                 {"custom_voice": models / "custom_voice", "base": models / "base"},
                                                 tmp / "voices")
    mic = write_tone_wav(tmp / "mic.wav", seconds=1.0)
    return settings, ["--fake-engines", "--mic-file", str(mic)], 0.6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("cpu", "ours"), required=True)
    parser.add_argument("--turns", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-first-audio-"))
    server = slow_llm()
    try:
        settings, daemon_args, hold = setup(args.engine, tmp, server.server.url)
        figures = []
        with Daemon(tmp, settings, *daemon_args, "--speaker-file", str(tmp / "out.wav")).start(timeout=180) as d:
            for _ in range(args.turns):
                start = d.turn(hold_s=hold)
                end = d.turn_end(start, timeout=120)
                turn = first_audio_figures(d.events[start:], d.events[end]["turn"])
                figures.append(turn)
                print(f"turn: first sentence -> first audio {turn['sentence_to_audio'] * 1000:.0f} ms; first audio "
                      f"{turn['audio_before_last_token'] * 1000:.0f} ms before the LLM's last token", flush=True)
        median = statistics.median(f["sentence_to_audio"] for f in figures) * 1000
        ahead = statistics.median(f["audio_before_last_token"] for f in figures) * 1000
        print(f"{args.engine}: first complete sentence -> first audio p50 {median:.0f} ms over {len(figures)} turns; "
              f"first audio p50 {ahead:.0f} ms before the LLM's last token")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
