"""The real ASR engine: its own venv, a tiny random-weight GLM-ASR, real Wyoming over real sockets.

The engine subprocess loads the model through its normal path (``python -m
engines.asr --model <dir> --device cpu``). Speech comes from espeak-ng, so the
Silero VAD hears real speech; the random model's text is garbage but
deterministic (greedy), which is what the plumbing needs. "No model call" is
proven from the engine's log, which numbers every model call.
"""
from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import socket
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from wyoming.asr import Transcribe, Transcript, TranscriptChunk
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.error import Error
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.info import Describe, Info

from daemon import __version__ as SISYPHUS_VERSION
from engines.asr.guards import token_budget
from engines.protocol.errors import EXIT_CONFIG, FATAL_PREFIX
from tests.support.venvs import REPO

pytestmark = pytest.mark.engine_venv("asr")
ESPEAK_RATE = 22050
START_TIMEOUT = 240.0
REPLY_TIMEOUT = 120.0
SENTENCES = {"lights": "turn on the kitchen lights", "weather": "what is the weather like tomorrow in Berlin"}


# -- fixtures -------------------------------------------------------------------------------
# asr_python and tiny_model (the tiny GLM-ASR): tests/engines/conftest.py
@pytest.fixture(scope="session")
def speech() -> dict[str, np.ndarray]:
    """Float32 speech at 22.05 kHz (espeak-ng's rate), one array per sentence."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        hint = "install espeak-ng (apt-get install espeak-ng)"
        if os.environ.get("CI"):
            pytest.fail(f"espeak-ng is missing; {hint}")
        pytest.skip(f"espeak-ng is missing; {hint}")
    out = {}
    for name, text in SENTENCES.items():
        wav = subprocess.run([espeak, "--stdout", "-v", "en-us", text], capture_output=True, check=True).stdout
        with wave.open(io.BytesIO(wav)) as reader:
            assert (reader.getframerate(), reader.getsampwidth(), reader.getnchannels()) == (ESPEAK_RATE, 2, 1)
            out[name] = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").astype(np.float32) / 32768
    return out


class EngineProcess:
    """``python -m engines.asr`` in the ASR venv, its stderr in a file the tests read."""

    def __init__(self, python: Path, uri: str, model: Path, log: Path, *extra: str,
                 env: dict[str, str] | None = None) -> None:
        self.uri, self.log = uri, log
        self.first_events: list[Event] = []
        with open(log, "wb") as sink:
            self.proc = subprocess.Popen(
                [str(python), "-m", "engines.asr", "--uri", uri, "--model", str(model), "--device", "cpu", *extra],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=sink, cwd=REPO,
                env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def model_calls(self) -> int:
        return len(re.findall(r"model call \d+:", self.text()))

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"ASR engine exited with {self.proc.returncode}:\n{self.text()[-3000:]}")
            try:
                asyncio.run(asyncio.wait_for(describe(self.uri), 5))
                return
            except (TimeoutError, OSError):
                time.sleep(0.3)
        pytest.fail(f"ASR engine not ready after {START_TIMEOUT} s:\n{self.text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def unix_engine(asr_python, tiny_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("asr-unix")
    engine = EngineProcess(asr_python, f"unix://{tmp / 'asr.sock'}", tiny_model, tmp / "engine.log")
    engine.wait_ready()
    yield engine
    engine.stop()


@pytest.fixture(scope="module")
def tcp_engine(asr_python, tiny_model, speech, tmp_path_factory):
    """Over TCP, decoding to the full token budget after audio-stop only (--no-live), with a fault knob: its
    first model call raises CUDA OOM.

    The fixture makes that first request itself (kept in ``first_events``), so the
    tests using this engine do not depend on their order.
    """
    tmp = tmp_path_factory.mktemp("asr-tcp")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = EngineProcess(asr_python, f"tcp://127.0.0.1:{port}", tiny_model, tmp / "engine.log", "--no-loop-guard",
                           "--no-live", env={"SISYPHUS_ASR_FAULT": "oom-once"})
    engine.wait_ready()
    engine.first_events = asyncio.run(transcribe(engine.uri, s16_16k(speech["weather"])))
    yield engine
    engine.stop()


# -- client helpers -------------------------------------------------------------------------
async def describe(uri: str) -> Info:
    client = AsyncClient.from_uri(uri)
    await client.connect()
    try:
        await client.write_event(Describe().event())
        event = await client.read_event()
        assert event is not None and Info.is_type(event.type)
        return Info.from_event(event)
    finally:
        await client.disconnect()


def resample_for_test(audio: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Linear interpolation: enough to make test input at another rate (independent of the engine's)."""
    n = int(round(audio.size * dst / src))
    return np.interp(np.arange(n) * src / dst, np.arange(audio.size), audio).astype(np.float32)


def encode(audio: np.ndarray, width: int, channels: int) -> bytes:
    """Float audio to interleaved little-endian PCM of ``width`` bytes, the same signal on every channel."""
    ints = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int64)
    if width == 1:
        data = (ints // 256 + 128).astype(np.uint8)
    elif width == 2:
        data = ints.astype("<i2")
    elif width == 3:
        data = np.frombuffer((ints << 8).astype("<i4").tobytes(), np.uint8).reshape(-1, 4)[:, :3]
    else:
        data = (ints << 16).astype("<i4")
    frames = np.repeat(data.reshape(ints.size, -1), channels, axis=0).reshape(ints.size, channels, -1)
    return frames.tobytes()


async def send_audio(client: AsyncClient, pcm: bytes, rate: int, width: int, channels: int,
                     samples: int = 0) -> None:
    """``samples`` per audio-chunk (default 100 ms, like a desktop microphone)."""
    await client.write_event(Transcribe(language="en").event())
    await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
    step = (samples or rate // 10) * width * channels
    for i in range(0, len(pcm), step):
        await client.write_event(AudioChunk(rate=rate, width=width, channels=channels, audio=pcm[i:i + step]).event())
    await client.write_event(AudioStop().event())


async def read_reply(client: AsyncClient) -> list[Event]:
    """Every event of one reply: up to the transcript (and the transcript-stop after it), or an error."""
    events: list[Event] = []
    while not events or events[-1].type not in ("transcript", "error"):
        event = await asyncio.wait_for(client.read_event(), REPLY_TIMEOUT)
        assert event is not None, f"engine closed the connection after {[e.type for e in events]}"
        events.append(event)
    if events[0].type == "transcript-start":
        event = await asyncio.wait_for(client.read_event(), REPLY_TIMEOUT)
        assert event is not None and event.type == "transcript-stop", event
        events.append(event)
    return events


async def transcribe(uri: str, pcm: bytes, rate: int = 16000, width: int = 2, channels: int = 1,
                     samples: int = 0) -> list[Event]:
    """One request (``samples`` per chunk: send_audio); every event of the reply."""
    client = AsyncClient.from_uri(uri)
    await client.connect()
    try:
        await send_audio(client, pcm, rate, width, channels, samples)
        return await read_reply(client)
    finally:
        await client.disconnect()


def final_text(events: list[Event]) -> str:
    finals = [e for e in events if e.type == "transcript"]
    assert len(finals) == 1, f"expected one transcript, got {[e.type for e in events]}"
    return Transcript.from_event(finals[0]).text


def s16_16k(audio: np.ndarray) -> bytes:
    return encode(resample_for_test(audio, ESPEAK_RATE, 16000), 2, 1)


def with_pauses(speech: dict[str, np.ndarray], seconds: float) -> np.ndarray:
    """Sentences separated by 0.6 s of silence, repeated to ``seconds`` of 22.05 kHz audio."""
    pause = np.zeros(int(0.6 * ESPEAK_RATE), np.float32)
    unit = np.concatenate([speech["lights"], pause, speech["weather"], pause])
    return np.tile(unit, int(np.ceil(seconds * ESPEAK_RATE / unit.size)))[:int(seconds * ESPEAK_RATE)]


# -- tests ----------------------------------------------------------------------------------
async def test_describe_advertises_the_model_and_streaming(unix_engine, tiny_model) -> None:
    info = await describe(unix_engine.uri)
    program = info.asr[0]
    assert program.supports_transcript_streaming
    assert program.version == SISYPHUS_VERSION  # our program's version; the model has its own field
    assert program.models[0].name == tiny_model.name and "transformers" in program.models[0].description
    assert len(program.models[0].languages) == 17 and {"en", "zh", "de"} <= set(program.models[0].languages)


async def test_utterances_in_a_row_stream_partials_then_a_final_transcript(unix_engine, speech) -> None:
    calls = unix_engine.model_calls()
    texts = []
    for name in ("lights", "weather", "lights"):
        events = await transcribe(unix_engine.uri, s16_16k(speech[name]))
        types = [e.type for e in events]
        # the final transcript comes before transcript-stop, as upstream streaming servers send it
        assert types[0] == "transcript-start" and types[-2:] == ["transcript", "transcript-stop"], types
        chunks = [TranscriptChunk.from_event(e).text for e in events[1:-2]]
        assert len(chunks) >= 2 and set(types[1:-2]) == {"transcript-chunk"}
        text = final_text(events)
        assert text and "".join(chunks).strip().startswith(text)  # the final may cut a repetition loop
        texts.append(text)
    assert texts[0] == texts[2], "the same audio must give the same text: no state leaks between requests"
    assert unix_engine.model_calls() == calls + 3
    # Random weights never say EOS here: decoding stops at the budget set by the audio length.
    for seconds, tokens in re.findall(r"model call \d+: ([\d.]+) s window -> (\d+) tokens", unix_engine.text()):
        assert int(tokens) <= token_budget(float(seconds))


@pytest.mark.parametrize("rate,width,channels", [(8000, 2, 1), (44100, 2, 2), (16000, 4, 1), (48000, 3, 2),
                                                 (22050, 1, 1)])
async def test_any_input_format_reaches_the_model_as_speech(unix_engine, speech, rate, width, channels) -> None:
    # A wrong conversion gives noise, which the VAD would gate to an empty transcript.
    audio = resample_for_test(speech["weather"], ESPEAK_RATE, rate)
    text = final_text(await transcribe(unix_engine.uri, encode(audio, width, channels), rate, width, channels))
    assert text


@pytest.mark.parametrize("rate,samples", [(16000, 160), (48000, 160), (16000, 1), (48000, 1)],
                         ids=["160@16k", "160@48k", "1@16k", "1@48k"])
async def test_chunks_of_any_size_give_the_text_of_100_ms_chunks(unix_engine, speech, rate, samples) -> None:
    # Satellites send 10-20 ms chunks; a first chunk shorter than one VAD window (512 samples at
    # 16 kHz) used to fail the whole request. The upstream wyoming client, our real engine.
    audio = resample_for_test(speech["lights"], ESPEAK_RATE, rate)
    if samples == 1:
        audio = audio[:int(0.8 * rate)]  # one event per sample: 0.8 s (12,800 or 38,400 events)
    pcm = encode(audio, 2, 1)
    expected = final_text(await transcribe(unix_engine.uri, pcm, rate))
    assert expected, "the audio must hold speech, or the model is never called"
    events = await transcribe(unix_engine.uri, pcm, rate, samples=samples)
    assert "error" not in [e.type for e in events], [Error.from_event(e).text for e in events if e.type == "error"]
    assert final_text(events) == expected


async def test_32_bit_and_stereo_input_give_the_same_text_as_16_bit_mono(unix_engine, speech) -> None:
    audio = resample_for_test(speech["lights"], ESPEAK_RATE, 16000)
    mono16 = final_text(await transcribe(unix_engine.uri, encode(audio, 2, 1)))
    assert final_text(await transcribe(unix_engine.uri, encode(audio, 4, 1), width=4)) == mono16
    assert final_text(await transcribe(unix_engine.uri, encode(audio, 2, 2), channels=2)) == mono16


async def test_silence_and_noise_give_an_empty_transcript_without_a_model_call(unix_engine) -> None:
    calls = unix_engine.model_calls()
    skips = unix_engine.text().count("answered without a model call")
    silence = np.zeros(2 * 16000, np.float32)
    noise = (0.05 * np.random.default_rng(1).standard_normal(2 * 16000)).astype(np.float32)
    for audio in (silence, noise):
        events = await transcribe(unix_engine.uri, encode(audio, 2, 1))
        assert [e.type for e in events] == ["transcript"] and final_text(events) == ""
    assert unix_engine.model_calls() == calls
    assert unix_engine.text().count("answered without a model call") == skips + 2


async def test_a_closed_connection_aborts_the_request_and_the_next_one_is_unaffected(tcp_engine, speech) -> None:
    engine = tcp_engine
    reference = final_text(await transcribe(engine.uri, s16_16k(speech["lights"])))
    calls = engine.model_calls()
    client = AsyncClient.from_uri(engine.uri)
    await client.connect()
    # 29 s of speech and no loop guard: ~300 tokens to decode, still running when we hang up.
    await send_audio(client, encode(resample_for_test(with_pauses(speech, 29), ESPEAK_RATE, 16000), 2, 1),
                     16000, 2, 1)
    while (event := await asyncio.wait_for(client.read_event(), REPLY_TIMEOUT)).type != "transcript-chunk":
        assert event.type == "transcript-start", event
    await client.disconnect()
    deadline = time.monotonic() + 60
    while "cancelled, the client went away" not in engine.text() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert "cancelled, the client went away" in engine.text()
    assert engine.model_calls() == calls, "the aborted model call must not run to its end"
    assert final_text(await transcribe(engine.uri, s16_16k(speech["lights"]))) == reference


async def test_audio_over_30_s_is_transcribed_in_windows_and_joined(unix_engine, speech) -> None:
    calls = unix_engine.model_calls()
    events = await transcribe(unix_engine.uri, s16_16k(with_pauses(speech, 65)))
    assert final_text(events)
    windows = [float(s) for s in re.findall(r"model call \d+: ([\d.]+) s window", unix_engine.text())][calls:]
    assert len(windows) >= 3 and all(w <= 30.0 for w in windows), windows
    assert sum(windows) == pytest.approx(65, abs=0.1)


async def test_partials_arrive_while_the_user_is_still_speaking(unix_engine, speech) -> None:
    pcm = s16_16k(with_pauses(speech, 12))
    calls = unix_engine.model_calls()
    client = AsyncClient.from_uri(unix_engine.uri)
    await client.connect()
    try:
        reply = asyncio.create_task(read_reply(client))
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        started, step = time.monotonic(), 3200
        for i in range(0, len(pcm), step):  # 100 ms chunks at the pace of a microphone
            await asyncio.sleep(max(0.0, started + i / 32000 - time.monotonic()))
            await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=pcm[i:i + step]).event())
        assert not reply.done() or reply.exception() is None
        await client.write_event(AudioStop().event())
        events = await reply
    finally:
        await client.disconnect()
    types = [e.type for e in events]
    assert types[0] == "transcript-start" and types[-2:] == ["transcript", "transcript-stop"], types
    assert unix_engine.model_calls() - calls >= 3  # one per segment: cut at the pauses
    # The same audio sent all at once gives the same text: segments depend on the audio, not its pace.
    assert final_text(await transcribe(unix_engine.uri, pcm)) == final_text(events)


async def test_the_first_partial_comes_before_audio_stop(unix_engine, speech) -> None:
    pcm = s16_16k(with_pauses(speech, 10))
    client = AsyncClient.from_uri(unix_engine.uri)
    await client.connect()
    try:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        first_partial: list[float] = []

        async def watch() -> None:
            while (event := await client.read_event()) is not None and event.type != "transcript-chunk":
                pass
            first_partial.append(time.monotonic())

        watcher = asyncio.create_task(watch())
        started = time.monotonic()
        for i in range(0, len(pcm), 3200):
            await asyncio.sleep(max(0.0, started + i / 32000 - time.monotonic()))
            await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=pcm[i:i + 3200]).event())
        stop_at = time.monotonic()
        await asyncio.wait_for(watcher, REPLY_TIMEOUT)
        await client.write_event(AudioStop().event())
    finally:
        await client.disconnect()
    assert first_partial and first_partial[0] < stop_at, "no partial transcript while the audio was still coming"


async def test_audio_without_audio_start_is_answered_with_an_error(unix_engine, speech) -> None:
    client = AsyncClient.from_uri(unix_engine.uri)
    await client.connect()
    try:
        chunk = AudioChunk(rate=16000, width=2, channels=1, audio=bytes(3200)).event()
        for _ in range(3):
            await client.write_event(chunk)
        await client.write_event(AudioStop().event())
        event = await asyncio.wait_for(client.read_event(), REPLY_TIMEOUT)
        assert event is not None and Error.is_type(event.type), event
        error = Error.from_event(event)
        assert error.code == "bad_request" and "audio-start" in error.text
        # One error per stray request (the rest of it is dropped), and the connection still serves.
        await send_audio(client, s16_16k(speech["lights"]), 16000, 2, 1)
        events = await read_reply(client)
        assert events[0].type == "transcript-start" and final_text(events)
    finally:
        await client.disconnect()


async def test_more_audio_than_the_limit_is_refused_as_bad_audio(unix_engine) -> None:
    client = AsyncClient.from_uri(unix_engine.uri)
    await client.connect()
    try:
        await send_audio(client, bytes(601 * 8000), 8000, 1, 1)  # 601 s of 8-bit audio
        event = await asyncio.wait_for(client.read_event(), REPLY_TIMEOUT)
        assert event is not None and Error.is_type(event.type)
        error = Error.from_event(event)
        assert error.code == "bad_audio" and "600 s" in error.text
    finally:
        await client.disconnect()
    assert (await describe(unix_engine.uri)).asr


async def test_tcp_cuda_oom_is_answered_and_the_engine_keeps_serving(tcp_engine, speech) -> None:
    first = tcp_engine.first_events
    assert [e.type for e in first] == ["error"] and Error.from_event(first[0]).code == "cuda_oom"
    assert "out of memory" in tcp_engine.text()
    pcm = s16_16k(speech["weather"])
    text = final_text(await transcribe(tcp_engine.uri, pcm))
    assert text and final_text(await transcribe(tcp_engine.uri, pcm)) == text


async def test_stdio_transport_keeps_the_protocol_clean(asr_python, tiny_model, speech, tmp_path) -> None:
    # Over stdio, a library's stray print or progress bar on stdout would corrupt the stream.
    with open(tmp_path / "engine.log", "wb") as log:
        proc = await asyncio.create_subprocess_exec(
            str(asr_python), "-m", "engines.asr", "--uri", "stdio://", "--model", str(tiny_model), "--device", "cpu",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log, cwd=REPO,
            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        await async_write_event(Describe().event(), proc.stdin)
        info = await asyncio.wait_for(async_read_event(proc.stdout), START_TIMEOUT)
        assert info is not None and Info.is_type(info.type), (tmp_path / "engine.log").read_text()[-3000:]
        pcm = s16_16k(speech["lights"])
        for event in (Transcribe().event(), AudioStart(rate=16000, width=2, channels=1).event(),
                      AudioChunk(rate=16000, width=2, channels=1, audio=pcm).event(), AudioStop().event()):
            await async_write_event(event, proc.stdin)
        types = []
        while not types or types[-1] != "transcript":
            event = await asyncio.wait_for(async_read_event(proc.stdout), REPLY_TIMEOUT)
            assert event is not None, f"stdout ended after {types}"
            types.append(event.type)
        assert types[0] == "transcript-start" and types[-2] == "transcript-chunk", types
        event = await asyncio.wait_for(async_read_event(proc.stdout), REPLY_TIMEOUT)
        assert event is not None and event.type == "transcript-stop"
        proc.stdin.close()
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def _fatal(stderr: str) -> dict:
    lines = [line for line in stderr.splitlines() if line.startswith(FATAL_PREFIX)]
    assert len(lines) == 1, stderr[-3000:]
    return json.loads(lines[0][len(FATAL_PREFIX):])


def test_a_missing_model_path_exits_78_naming_the_path(asr_python, tmp_path) -> None:
    missing = tmp_path / "no-such-model"
    done = subprocess.run([str(asr_python), "-m", "engines.asr", "--uri", f"unix://{tmp_path / 'a.sock'}",
                           "--model", str(missing), "--device", "cpu"], capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_CONFIG
    fatal = _fatal(done.stderr)
    assert fatal["code"] == "model_not_found" and str(missing) in fatal["text"]


def test_a_repo_id_that_cannot_be_fetched_exits_78_saying_how_to_get_it(asr_python, tmp_path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run([str(asr_python), "-m", "engines.asr", "--uri", f"unix://{tmp_path / 'a.sock'}",
                           "--model", "zai-org/GLM-ASR-Nano-2512"], capture_output=True, text=True, timeout=120,
                          env=env)
    assert done.returncode == EXIT_CONFIG
    fatal = _fatal(done.stderr)
    assert fatal["code"] == "model_not_found"
    assert "zai-org/GLM-ASR-Nano-2512" in fatal["text"] and "hf download" in fatal["text"]
