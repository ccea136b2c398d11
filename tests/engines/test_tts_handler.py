"""The TTS protocol handler on a real unix socket with a fake synthesizer (no torch):
request framing, streaming-input sentence order, the synthesize duplicate, CUDA OOM.

The fake stands in for the model only; the server, the wire and the handler are real.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from wyoming.client import AsyncClient
from wyoming.event import Event
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from daemon import __version__
from engines.protocol.errors import UNKNOWN_VOICE, EngineError
from engines.common.server import EngineServer
from daemon.speech import clients
from daemon.speech.openai_audio import HttpOptions as DaemonHttp
from engines.common.http import HttpOptions, serve
from engines.protocol.transport import free_port
from engines.tts import http as tts_http
from engines.tts.catalog import Choice, language_name
from engines.tts.engine import CHUNK_SAMPLES, TtsEngine
from engines.tts.store import VoiceStore


class OutOfMemoryError(RuntimeError):
    """Named like torch's, which is how the server recognises it without importing torch."""


class FakeSynth:
    """Speaks 0.1 s of a constant per sentence; 'oom' in the text raises a CUDA OOM mid-sentence."""

    base = None

    def __init__(self) -> None:
        self.spoken: list[str] = []
        self.languages_asked: list[str | None] = []
        self.freed = 0
        self.long_steps = 0
        self.long_done = threading.Event()

    def presets(self) -> list[str]:
        return ["ryan"]

    def languages(self) -> list[str]:
        return ["english"]

    def choose(self, name: str | None) -> Choice:
        if name not in (None, "ryan"):
            raise EngineError(f"unknown voice {name!r}", UNKNOWN_VOICE)
        return Choice(speaker="ryan")

    def speak(self, emit, text, choice, language=None, *, token, cap=None) -> None:
        self.spoken.append(text)
        self.languages_asked.append(language)
        if "long" in text:
            return self._speak_long(emit)
        emit(np.full(1200, 0.5, dtype=np.float32))
        if "oom" in text:
            raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        emit(np.full(1200, 0.5, dtype=np.float32))

    def _speak_long(self, emit) -> None:
        """A minute of audio in 10 ms steps; ``emit`` raises Cancelled once the client is gone."""
        try:
            for self.long_steps in range(1, 6001):
                time.sleep(0.01)
                emit(np.full(CHUNK_SAMPLES * 4, 0.1, dtype=np.float32))
        finally:
            self.long_done.set()

    def free_memory(self) -> None:
        self.freed += 1

    def memory(self) -> dict:
        return {"path": "graph", "gpu_gib": 4.125, "gpu_peak_gib": 4.5, "swaps": 1, "last_swap_ms": 310}


@pytest.fixture
async def served(tmp_path):
    synth = FakeSynth()
    server = EngineServer(TtsEngine(synth, VoiceStore(tmp_path / "voices")))
    sock = Path(tmp_path) / "tts.sock"
    await server.start(f"unix://{sock}")
    yield f"unix://{sock}", synth
    await server.stop()


async def exchange(uri: str, *events: Event, last: str) -> list[Event]:
    async with AsyncClient.from_uri(uri) as client:
        for event in events:
            await client.write_event(event)
        answers = [await asyncio.wait_for(client.read_event(), 10)]
        while answers[-1].type not in (last, "error"):
            answers.append(await asyncio.wait_for(client.read_event(), 10))
        return answers


async def test_plain_synthesize_is_one_audio_stream_of_small_chunks(served):
    uri, synth = served
    answers = await exchange(uri, Synthesize(text="One. Two.", voice=SynthesizeVoice(name="ryan")).event(),
                             last="audio-stop")
    types = [e.type for e in answers]
    assert types[0] == "audio-start" and types[-1] == "audio-stop" and types.count("audio-start") == 1
    chunks = [e.payload for e in answers if e.type == "audio-chunk"]
    assert max(map(len, chunks)) == CHUNK_SAMPLES * 2 and sum(map(len, chunks)) == 2 * 2 * 2400
    assert synth.spoken == ["One.", "Two."]


async def test_streaming_input_ignores_the_compat_synthesize(served):
    uri, synth = served
    answers = await exchange(uri, SynthesizeStart().event(), SynthesizeChunk(text="Hel").event(),
                             SynthesizeChunk(text="lo. World").event(), Synthesize(text="Hello. World").event(),
                             SynthesizeStop().event(), last="synthesize-stopped")
    assert synth.spoken == ["Hello.", "World"]
    assert [e.type for e in answers].count("audio-stop") == 2


async def test_cuda_oom_is_reported_and_the_engine_keeps_serving(served):
    uri, synth = served
    answers = await exchange(uri, Synthesize(text="Please oom now.").event(), last="audio-stop")
    assert answers[-1].type == "error" and answers[-1].data["code"] == "cuda_oom"
    assert synth.freed == 1
    again = await exchange(uri, Synthesize(text="Fine.").event(), last="audio-stop")
    assert again[-1].type == "audio-stop"


async def test_unknown_voice_before_any_audio(served):
    uri, _ = served
    answers = await exchange(uri, Synthesize(text="Hi.", voice=SynthesizeVoice(name="zed")).event(),
                             last="audio-stop")
    assert [e.type for e in answers] == ["error"] and answers[0].data["code"] == "unknown_voice"


async def test_hang_up_mid_stream_stops_the_model_quietly(served, caplog):
    uri, synth = served
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Synthesize(text="A long one.").event())
        while (await asyncio.wait_for(client.read_event(), 10)).type != "audio-chunk":
            pass
    assert await asyncio.to_thread(synth.long_done.wait, 5), "the model kept generating after the hang-up"
    assert synth.long_steps < 200
    again = await exchange(uri, Synthesize(text="Fine.").event(), last="audio-stop")
    assert again[-1].type == "audio-stop"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_describe_reports_path_and_gpu_memory(served):
    uri, _synth = served
    answers = await exchange(uri, Event("describe"), last="info")
    about = answers[-1].data["tts"][0]["description"]
    assert about == ("Qwen3-TTS-12Hz, streaming (graph path; GPU 4.12 GiB at rest, 4.50 GiB peak; "
                     "1 model swaps, last 310 ms)")
    # the program's version is sisyphus' own (one home: engines/protocol/version.py), as the ASR engine's
    assert answers[-1].data["tts"][0]["version"] == __version__


def test_stock_description_says_why():
    from engines.tts.engine import describe_state

    about = describe_state({"path": "stock", "why_stock": "no CUDA device (--device cpu)"})
    assert about == "Qwen3-TTS-12Hz, streaming (stock path; stock because: no CUDA device (--device cpu))"


async def test_the_daemon_s_speech_language_reaches_the_model_over_wyoming_and_http(served, tmp_path):
    # [tts] language through the daemon's own client into the real handler, both protocols: Wyoming
    # carries the code as given, HTTP the English name (what vLLM-Omni wants); the model's side reads both.
    uri, synth = served
    async def one(text: str):
        yield text
    heard = [a async for a in clients.synthesize("tts", uri, one("Hallo."), language="de_DE")]
    assert heard and synth.languages_asked == ["de_DE"]
    engine = TtsEngine(synth, VoiceStore(tmp_path / "voices"))
    port = free_port()
    server = await serve(engine, tts_http.routes, HttpOptions("127.0.0.1", port, None, 1 << 20, 4))
    try:
        heard = [a async for a in clients.synthesize("tts", f"http://127.0.0.1:{port}/v1", one("Hallo."),
                                                     language="de_DE", http=DaemonHttp())]
    finally:
        await server.stop()
    assert heard and synth.languages_asked == ["de_DE", "German"]
    assert {language_name(x, {"german", "english"}) for x in synth.languages_asked} == {"german"}
