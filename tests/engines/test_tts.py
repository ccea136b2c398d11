"""The real TTS engine subprocess (TTS venv) on tiny random-weight Qwen3-TTS models.

Real Wyoming requests over a unix socket and over stdio: preset speakers, cloned
voices (add/list/use/set-text/remove), streaming input, a cancelled request followed
by a good one, bad references refused with the voices dir untouched, start-up
failures. Random weights say nothing about speech quality; they exercise every code
path the real models take (same classes, same from_pretrained, same generate()).
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from wyoming.client import AsyncClient
from wyoming.event import Event, read_event, write_event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from tests.support.venvs import REPO

pytestmark = pytest.mark.engine_venv("tts")
CAP = 400          # --max-new-tokens: 32 s; short texts stay far below it, the abort test reaches for it
RATE = 24000
CHUNK_LIMIT = 960  # samples per audio-chunk (40 ms)


def engine_argv(python: Path, models: dict, uri: str, voices: Path, *extra: str) -> list[str]:
    return [str(python), "-m", "engines.tts", "--uri", uri, "--custom-voice-model", str(models["custom_voice"]),
            "--base-model", str(models["base"]), "--voices-dir", str(voices), "--device", "cpu",
            "--max-new-tokens", str(CAP), *extra]


def child_env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "2"}


class Engine:
    """A running engine subprocess on a unix socket; stderr goes to a log file."""

    def __init__(self, argv: list[str], sock: Path, log: Path) -> None:
        self.uri, self.log = f"unix://{sock}", log
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log.open("wb"), env=child_env(),
                                     cwd=REPO)
        asyncio.run(self._wait_ready(sock))

    async def _wait_ready(self, sock: Path, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"engine exited with {self.proc.returncode}:\n{self.log_tail()}")
            if sock.exists():
                try:
                    await asyncio.wait_for(describe(self.uri), 10)
                    return
                except (OSError, asyncio.TimeoutError):
                    pass
            await asyncio.sleep(0.2)
        pytest.fail(f"engine not ready after {timeout} s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


@pytest.fixture(scope="module")
def engine(tts_python, tiny_models, tmp_path_factory):
    base = tmp_path_factory.mktemp("tts-engine")
    voices = base / "voices"
    running = Engine(engine_argv(tts_python, tiny_models, f"unix://{base / 'tts.sock'}", voices),
                     base / "tts.sock", base / "engine.log")
    running.voices = voices
    yield running
    running.stop()


async def describe(uri: str) -> Info:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Describe().event())
        while True:
            event = await client.read_event()
            if event.type == "info":
                return Info.from_event(event)


async def request(uri: str, *events: Event, until: tuple[str, ...] = ("audio-stop", "error")) -> list[Event]:
    """Send events on one connection; collect answers up to one of ``until``."""
    async with AsyncClient.from_uri(uri) as client:
        for event in events:
            await client.write_event(event)
        answers = []
        while True:
            event = await asyncio.wait_for(client.read_event(), 120)
            assert event is not None, f"connection closed after {[e.type for e in answers]}"
            answers.append(event)
            if event.type in until:
                return answers


def audio_of(events: list[Event]) -> np.ndarray:
    chunks = [e for e in events if e.type == "audio-chunk"]
    for chunk in chunks:
        assert (chunk.data["rate"], chunk.data["width"], chunk.data["channels"]) == (RATE, 2, 1)
        assert 0 < len(chunk.payload) <= CHUNK_LIMIT * 2
    return np.frombuffer(b"".join(c.payload for c in chunks), dtype="<i2")


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """A voiced-sounding reference: harmonics with a syllable-rate envelope, as s16."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 6))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    audio = 0.3 * tone * envelope / 2.3 + 0.01 * rng.standard_normal(t.size)
    return (np.clip(audio, -1, 1) * 32767).astype("<i2")


def voice_add(name: str, audio: np.ndarray, text: str = "", **extra) -> Event:
    data = {"name": name, "text": text, "rate": RATE, "width": 2, "channels": 1, **extra}
    return Event("x-voice-add", data=data, payload=audio.tobytes())


def error_of(events: list[Event]) -> dict:
    assert events[-1].type == "error", [e.type for e in events]
    return events[-1].data


# --------------------------------------------------------------------------------------------


async def test_info_lists_presets_with_languages_and_streaming(engine):
    info = await describe(engine.uri)
    program = info.tts[0]
    assert program.supports_synthesize_streaming
    voices = {v.name: v.languages for v in program.voices}
    assert set(voices) == {"vivian", "serena", "uncle_fu", "dylan", "eric", "ryan", "aiden", "ono_anna", "sohee"}
    assert voices["ryan"][0] == "en" and voices["sohee"][0] == "ko" and "de" in voices["ryan"]


async def test_preset_speaker_streams_small_chunks(engine):
    started = time.monotonic()
    events = await request(engine.uri, Synthesize(text="Hi there.", voice=SynthesizeVoice(name="Ryan")).event())
    assert events[0].type == "audio-start" and events[0].data["rate"] == RATE
    assert events[-1].type == "audio-stop"
    audio = audio_of(events)
    assert sum(e.type == "audio-chunk" for e in events) > 5
    assert 0 < audio.size <= CAP * 1920 and np.abs(audio).max() > 0
    assert time.monotonic() - started < 60


async def test_streaming_input_speaks_each_sentence_as_it_completes(engine):
    async with AsyncClient.from_uri(engine.uri) as client:
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="vivian")).event())
        await client.write_event(SynthesizeChunk(text="Hello there. How").event())
        first = await asyncio.wait_for(client.read_event(), 60)  # before the rest of the text exists
        assert first.type == "audio-start"
        for piece in (" are you", "? Fine"):
            await client.write_event(SynthesizeChunk(text=piece).event())
        await client.write_event(Synthesize(text="Hello there. How are you? Fine").event())  # compat copy: ignored
        await client.write_event(SynthesizeStop().event())
        events = [first]
        while events[-1].type != "synthesize-stopped":
            events.append(await asyncio.wait_for(client.read_event(), 60))
    types = [e.type for e in events]
    assert types.count("audio-start") == types.count("audio-stop") == 3  # three sentences, no duplicate
    assert audio_of(events).size > 0


async def test_cloned_voice_add_list_use_set_text_remove(engine):
    added = await request(engine.uri, voice_add("alice", speech_like(4.0), "This is Alice speaking."),
                          until=("x-voice-added", "error"))
    assert added[-1].type == "x-voice-added", added[-1].data
    assert list((engine.voices / "alice").glob("prompt-*.pt")), "clone prompt not cached on disk"
    listed = await request(engine.uri, Event("x-voice-list"), until=("x-voices", "error"))
    assert [v["name"] for v in listed[-1].data["voices"]] == ["alice"]
    assert "alice" in {v.name for v in (await describe(engine.uri)).tts[0].voices}

    spoken = await request(engine.uri, Synthesize(text="Good morning.", voice=SynthesizeVoice(name="alice")).event())
    assert audio_of(spoken).size > 0

    updated = await request(engine.uri, Event("x-voice-set-text", {"name": "alice", "text": "Hi."}),
                            until=("x-voice-updated", "error"))
    assert updated[-1].data["text"] == "Hi."
    removed = await request(engine.uri, Event("x-voice-remove", {"name": "alice"}), until=("x-voice-removed", "error"))
    assert removed[-1].type == "x-voice-removed" and not (engine.voices / "alice").exists()
    gone = await request(engine.uri, Synthesize(text="Hi.", voice=SynthesizeVoice(name="alice")).event())
    assert error_of(gone)["code"] == "unknown_voice"


async def test_voice_without_transcript_uses_speaker_embedding(engine):
    added = await request(engine.uri, voice_add("bob", speech_like(3.5, seed=1)), until=("x-voice-added", "error"))
    assert added[-1].type == "x-voice-added" and added[-1].data["text"] == ""
    spoken = await request(engine.uri, Synthesize(text="Okay.", voice=SynthesizeVoice(name="bob")).event())
    assert audio_of(spoken).size > 0
    await request(engine.uri, Event("x-voice-remove", {"name": "bob"}), until=("x-voice-removed", "error"))


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("bad_add, why", [
    (voice_add("keep", np.zeros(RATE * 5, dtype="<i2"), replace=True), "silent"),
    (voice_add("keep", speech_like(1.0), replace=True), "long"),
    (voice_add("keep", speech_like(31.0), replace=True), "long"),
    (voice_add("keep", speech_like(4.0), width=4, replace=True), "16-bit"),
    (voice_add("../escape", speech_like(4.0)), "bad voice name"),
    (voice_add("keep", speech_like(4.0)), "exists"),
    (voice_add("Ryan", speech_like(4.0)), "preset"),
    (Event("x-voice-add", data={"name": "nopayload", "rate": RATE}), "payload"),
])
async def test_bad_reference_is_refused_and_voices_dir_intact(engine, bad_add, why):
    if not (engine.voices / "keep").exists():
        ok = await request(engine.uri, voice_add("keep", speech_like(5.0, seed=2), "Keep me."),
                           until=("x-voice-added", "error"))
        assert ok[-1].type == "x-voice-added", ok[-1].data
    before = snapshot(engine.voices)
    answer = error_of(await request(engine.uri, bad_add, until=("x-voice-added", "error")))
    assert answer["code"] == "bad_voice" and why in answer["text"], answer
    assert snapshot(engine.voices) == before
    assert not (engine.voices.parent / "escape").exists()


async def test_closed_connection_stops_generation_and_next_request_is_served(engine):
    next_request = Synthesize(text="Next.", voice=SynthesizeVoice(name="aiden")).event()
    started = time.monotonic()
    await request(engine.uri, next_request)
    baseline = time.monotonic() - started  # ~35 frames on an idle engine, at today's machine load
    long_text = "This sentence goes on and on " * 9 + "without end."  # budget capped at CAP = 400 frames
    async with AsyncClient.from_uri(engine.uri) as client:
        await client.write_event(Synthesize(text=long_text, voice=SynthesizeVoice(name="ryan")).event())
        while (await asyncio.wait_for(client.read_event(), 60)).type != "audio-chunk":
            pass
    aborted = time.monotonic()
    events = await request(engine.uri, next_request)
    waited = time.monotonic() - aborted
    assert audio_of(events).size > 0
    # Not cancelled, the long sentence would hold the model for ~10 baselines more.
    assert waited < 3 * baseline + 1.0, f"next request waited {waited:.1f} s (baseline {baseline:.1f} s)"
    cancelled = [line for line in engine.log_tail().splitlines() if "cancelled after" in line]
    assert cancelled and int(cancelled[-1].split("cancelled after ")[1].split()[0]) < CAP // 2
    assert "Traceback" not in engine.log_tail()


async def test_unknown_voice_is_an_error_and_engine_keeps_serving(engine):
    answer = error_of(await request(engine.uri, Synthesize(text="Hi.", voice=SynthesizeVoice(name="nobody")).event()))
    assert answer["code"] == "unknown_voice" and "nobody" in answer["text"]
    assert (await describe(engine.uri)).tts


def test_stdio_stream_is_clean_despite_import_banner(tts_python, tiny_models, tmp_path):
    """qwen-tts prints a flash-attn banner to stdout at import: it must land on stderr."""
    argv = engine_argv(tts_python, tiny_models, "stdio://", tmp_path / "voices", "--no-warmup")
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=child_env(), cwd=REPO)
    try:
        write_event(Describe().event(), proc.stdin)
        write_event(Synthesize(text="Hi.", voice=SynthesizeVoice(name="ryan")).event(), proc.stdin)
        proc.stdin.flush()
        events = []
        while not events or events[-1].type not in ("audio-stop", "error"):
            event = read_event(proc.stdout)  # raises on a stray non-JSON line
            assert event is not None, "stdout ended early"
            events.append(event)
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
        stderr = proc.stderr.read().decode(errors="replace")
    assert events[0].type == "info" and events[-1].type == "audio-stop"
    assert audio_of(events).size > 0
    assert "flash-attn" in stderr  # the banner was printed, to stderr


@pytest.mark.parametrize("args, code", [
    (["--custom-voice-model", "/nonexistent/qwen3-tts"], "model_not_found"),
    (["--base-model", "Qwen/Qwen3-TTS-12Hz-1.7B-Base"], "model_not_found"),  # offline, not cached
    ([], "bad_request"),
])
def test_startup_failure_is_one_fatal_line_and_exit_78(tts_python, tmp_path, args, code):
    env = {**child_env(), "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run([str(tts_python), "-m", "engines.tts", "--uri", f"unix://{tmp_path}/s.sock", *args],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert done.returncode == 78, done.stderr[-2000:]
    fatal = [line for line in done.stderr.splitlines() if line.startswith("sisyphus-engine-fatal: ")]
    assert len(fatal) == 1 and json.loads(fatal[0].split(": ", 1)[1])["code"] == code


def test_voices_cli_add_list_remove(tts_python, tmp_path):
    import wave

    ref = tmp_path / "ref.wav"
    with wave.open(str(ref), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(RATE)
        out.writeframes(speech_like(4.0).tobytes())

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(tts_python), "-m", "engines.tts.voices", "--voices-dir", str(tmp_path / "v"),
                               *args], capture_output=True, text=True, cwd=REPO, timeout=60)

    assert cli("add", "carol", "--audio", str(ref), "--text", "Hello.").returncode == 0
    listed = cli("list")
    assert json.loads(listed.stdout)["name"] == "carol"
    bad = cli("add", "carol", "--audio", str(tmp_path / "missing.wav"))
    assert bad.returncode == 1 and "bad_voice" in bad.stderr and "does not exist" in bad.stderr
    assert cli("remove", "carol").returncode == 0 and cli("list").stdout == ""


EQUIVALENCE = r"""
import json, sys
import numpy as np, torch
from engines.common.handler import CancelToken
from engines.tts import backend, loader
from engines.tts.store import VoiceStore

class Recording(backend.FrameDecoder):
    all_frames = []
    def push(self, frame):
        Recording.all_frames.append(frame)
        return super().push(frame)

backend.FrameDecoder = Recording
wrapper = loader.load(sys.argv[1], "cpu", torch.float32, "sdpa")
synth = backend.Synthesizer(wrapper, None, VoiceStore(sys.argv[2]))
chunks, frames_at_emit = [], []
def emit(audio):
    chunks.append(audio)
    frames_at_emit.append(len(Recording.all_frames))
torch.manual_seed(0)
synth.speak(emit, "Hello world, streaming.", synth.choose("ryan"), token=CancelToken(), cap=48)
codes = torch.stack(Recording.all_frames)
oneshot = wrapper.model.speech_tokenizer.decode([{"audio_codes": codes}])[0][0]
streamed = np.concatenate(chunks)
print(json.dumps({"frames": len(codes), "chunks": len(chunks), "frames_at_emit": frames_at_emit,
                  "streamed": len(streamed), "oneshot": len(oneshot),
                  "max_diff": float(np.abs(streamed - oneshot).max()), "peak": float(np.abs(oneshot).max())}))
"""


def test_streamed_audio_equals_one_shot_decode(tts_python, tiny_models, tmp_path):
    """Incremental decoding with carried codec state reproduces the one-shot decode.

    Tolerance: max |streamed - one-shot| <= 1e-5 of the one-shot peak: float rounding only
    (measured ~3e-7 on the tiny model; the old 25-frame re-decode was ~1e-3 off).
    """
    done = subprocess.run([str(tts_python), "-c", EQUIVALENCE, str(tiny_models["custom_voice"]), str(tmp_path)],
                          capture_output=True, text=True, env=child_env(), cwd=REPO, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["frames"] >= 10 and result["streamed"] == result["oneshot"] == result["frames"] * 1920
    assert result["max_diff"] <= 1e-5 * result["peak"], result
    early = [n for n in result["frames_at_emit"] if n < result["frames"]]
    assert len(early) >= 2, f"audio only at the end of generation: {result['frames_at_emit']}"
    assert result["frames_at_emit"][0] <= 2  # first audio after two frames (160 ms of speech)
