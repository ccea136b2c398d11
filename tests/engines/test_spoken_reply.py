"""A reply is spoken while the LLM is still writing it: the real daemon, real engine processes.

The LLM (tests.support.openai_server, a real local HTTP server) writes a four-sentence reply
at one word per 0.25 s. The daemon runs headless with ``--mic-file``/``--speaker-file``:
- cpu profile: wyoming-faster-whisper and wyoming-piper from the test venvs. Digital
  silence and low noise never reach the LLM; a spoken question (piper's voice at 22.05 kHz,
  so the mic file is resampled) does, the first audio reaches the speaker before the
  LLM's last token, and an independent Whisper run hears the reply's words and no "dot".
- our TTS engine on the tiny random-weight model (a fake ASR gives the transcript): the
  first audio reaches the speaker before the LLM's last token.
Both print the figure of the issue: first complete sentence -> first audio.
"""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.engines.test_upstream import run_piper
from tests.support.daemon import Daemon, fake_engine_command, write_tone_wav, write_wav
from tests.support.spoken import (KEY_WORDS, QUESTION, REPLY, base_settings, first_audio_figures, link_cpu_venvs,
                                  our_tts_command, slow_llm, transcribe, wav_seconds)
from tests.support.venvs import VENVS, engine_python


@pytest.fixture
def llm():
    server = slow_llm()
    yield server.server
    server.stop()


def ask(d: Daemon, mic, pcm: np.ndarray, rate: int) -> int:
    """Put ``pcm`` in the mic file and hold the key while it plays; the turn's first event index."""
    write_wav(mic, pcm, rate)
    return d.turn(hold_s=len(pcm) / rate + 0.5)


def report(name: str, figures: dict[str, float]) -> None:
    print(f"\n{name}: first complete sentence -> first audio {figures['sentence_to_audio'] * 1000:.0f} ms; "
          f"first audio {figures['audio_before_last_token'] * 1000:.0f} ms before the LLM's last token")


@pytest.mark.engine_venv("piper")
@pytest.mark.engine_venv("whisper")
def test_cpu_profile_speaks_while_the_llm_writes(tmp_path, llm):
    question, rate, _ = asyncio.run(run_piper(tmp_path, QUESTION))
    link_cpu_venvs(tmp_path / "data", VENVS)
    engine_python("whisper"), engine_python("piper")  # skip (or fail in CI) when absent
    mic, out = tmp_path / "mic.wav", tmp_path / "out.wav"
    write_wav(mic, np.zeros(2 * 16000), 16000)
    d = Daemon(tmp_path, base_settings(llm.url), "--profile", "cpu", "--mic-file", str(mic),
               "--speaker-file", str(out))
    with d.start(timeout=120):
        noise = np.random.default_rng(1).normal(0, 60, 2 * 44100)  # about -55 dBFS at 44.1 kHz
        for pcm, pcm_rate in ((np.zeros(2 * 16000), 16000), (noise, 44100)):
            start = ask(d, mic, pcm, pcm_rate)
            d.wait_state("idle", start + 1, timeout=60)
            assert "error" not in d.kinds(start), d.kinds(start)
            assert llm.chats == [], "silence or noise reached the LLM"

        start = ask(d, mic, question, rate)
        end = d.turn_end(start, timeout=90)
        turn = d.events[end]["turn"]
        figures = first_audio_figures(d.events[start:], turn)
        report("cpu profile (wyoming-piper)", figures)
        assert "error" not in d.kinds(start), d.kinds(start)
        asked = llm.chats[0].body["messages"][-1]["content"].lower()
        assert "weather" in asked or "forecast" in asked, asked
        assert figures["audio_before_last_token"] > 0, figures

    heard = transcribe(engine_python("whisper"), out).lower()
    words = heard.replace(".", " ").replace(",", " ").split()
    assert "dot" not in words, heard
    assert sum(word in heard for word in KEY_WORDS) >= 3, heard
    assert wav_seconds(out) > 6, "the reply was not recorded whole"


@pytest.mark.engine_venv("tts")
def test_our_engine_speaks_while_the_llm_writes(tmp_path, llm, tts_python, tiny_models):
    settings = base_settings(llm.url)
    settings["asr"]["command"] = fake_engine_command("asr", "--transcript", QUESTION)
    settings["tts"]["command"] = our_tts_command(tts_python, tiny_models, tmp_path / "voices")
    mic = write_tone_wav(tmp_path / "mic.wav", seconds=1.0)
    d = Daemon(tmp_path, settings, "--fake-engines", "--mic-file", str(mic), "--speaker-file",
               str(tmp_path / "out.wav"))
    with d.start(timeout=180):
        start = d.turn()
        end = d.turn_end(start, timeout=120)
        figures = first_audio_figures(d.events[start:], d.events[end]["turn"])
        report("our TTS engine (tiny model)", figures)
        assert "error" not in d.kinds(start), d.kinds(start)
        spoken = [e["text"] for e in d.events[start:] if e["kind"] == "speech"]
        assert "".join(spoken) == REPLY and len(spoken) == 4, spoken
        assert figures["audio_before_last_token"] > 0, figures
