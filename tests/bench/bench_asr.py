"""ASR latency benchmark (prints figures; not a test). Run with the ASR venv's python:

    .cache/venvs/asr/bin/python tests/bench/bench_asr.py                # real size, on the GPU
    .cache/venvs/asr/bin/python tests/bench/bench_asr.py --tiny --device cpu   # plumbing check

It builds a random-weight GLM-ASR of the real size (``GlmAsrConfig()`` defaults are
GLM-ASR-Nano-2512: 2.26 B parameters with the untied head) directly on the device,
puts it behind the real engine (AsrEngine + EngineServer on a unix socket, VAD
included) and sends espeak-ng speech tiled to 2, 5 and 15 s, as a client would.
Random weights stop at random, so each window decodes a forced, realistic number of
tokens (English speech is ~3-4 tokens/s). Reported per length: time from
``audio-stop`` to the final ``transcript`` (p50/p90), prefill (encoder + prompt up
to the first token), ms per further token, peak GPU memory.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import GlmAsrConfig, GlmAsrForConditionalGeneration  # noqa: E402
from wyoming.asr import Transcribe  # noqa: E402
from wyoming.audio import AudioChunk, AudioStart, AudioStop  # noqa: E402
from wyoming.client import AsyncClient  # noqa: E402

from engines.asr.engine import AsrEngine  # noqa: E402
from engines.asr.transcriber import Transcriber, pick_device, pick_dtype  # noqa: E402
from engines.asr.vad import SileroVad, find_model  # noqa: E402
from engines.common.server import EngineServer  # noqa: E402
from tests.fixtures.tiny_glmasr import EOS_TOKENS, build_processor, build_tokenizer, tiny_config  # noqa: E402

SENTENCES = ["turn on the kitchen lights", "what is the weather like tomorrow in Berlin",
             "set a timer for ten minutes and remind me to call my mother"]


def build_model(tiny: bool, device: torch.device, dtype: torch.dtype) -> Transcriber:
    tokenizer = build_tokenizer()  # ids < 512 fit the real 59264-token vocabulary
    if tiny:
        config = tiny_config(tokenizer)
    else:
        eos = [tokenizer.convert_tokens_to_ids(t) for t in EOS_TOKENS]
        config = GlmAsrConfig(text_config={"eos_token_id": eos}, audio_token_id=tokenizer.convert_tokens_to_ids(
            "<|pad|>"), tie_word_embeddings=False)
    config._attn_implementation = "sdpa"
    torch.set_default_dtype(dtype)
    with torch.device(device):
        model = GlmAsrForConditionalGeneration(config).eval()
    torch.set_default_dtype(torch.float32)
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return Transcriber(model, build_processor(tokenizer), device, dtype)


def speech_16k(seconds: float) -> tuple[np.ndarray, bool]:
    """espeak-ng sentences with pauses, tiled to ``seconds``; noise (and no VAD) without espeak-ng."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return (0.05 * np.random.default_rng(0).standard_normal(int(seconds * 16000))).astype(np.float32), False
    parts = []
    for text in SENTENCES:
        wav = subprocess.run([espeak, "--stdout", text], capture_output=True, check=True).stdout
        with wave.open(io.BytesIO(wav)) as reader:
            audio = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").astype(np.float32) / 32768
            rate = reader.getframerate()
        n = int(audio.size * 16000 / rate)
        parts += [np.interp(np.arange(n) * rate / 16000, np.arange(audio.size), audio), np.zeros(6400)]
    unit = np.concatenate(parts).astype(np.float32)
    return np.tile(unit, int(np.ceil(seconds * 16000 / unit.size)))[:int(seconds * 16000)], True


class _AlwaysSpeech:
    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        return np.ones(-(-audio.size // 512), dtype=np.float32)


async def one_request(uri: str, pcm: bytes) -> float:
    """Seconds from sending audio-stop to receiving the final transcript."""
    client = AsyncClient.from_uri(uri)
    await client.connect()
    try:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        for i in range(0, len(pcm), 3200):
            await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=pcm[i:i + 3200]).event())
        start = time.perf_counter()
        await client.write_event(AudioStop().event())
        while (event := await client.read_event()) is not None:
            if event.type == "transcript":
                return time.perf_counter() - start
            if event.type == "error":
                raise RuntimeError(f"engine error: {event.data}")
        raise RuntimeError("engine closed the connection")
    finally:
        await client.disconnect()


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


async def bench(args: argparse.Namespace, transcriber: Transcriber, vad) -> list[dict]:
    engine = AsrEngine(transcriber, vad, "random-" + ("tiny" if args.tiny else "real-size"), "bench")
    results = []
    original = transcriber.transcribe

    def recording(*a, **k):
        results.append(result := original(*a, **k))
        return result

    transcriber.transcribe = recording
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        uri = f"unix://{tmp}/asr.sock"
        server = EngineServer(engine)
        await server.start(uri)
        try:
            for spec in args.lengths.split(","):
                seconds, tokens = (float(x) for x in spec.split(":"))
                rows.append(await bench_length(uri, transcriber, results, seconds, int(tokens), args.repeats))
                print(json.dumps(rows[-1]), flush=True)
        finally:
            # Let the server see the last client's EOF first: Python 3.11's start_server logs a
            # spurious CancelledError for connection tasks that stop() has to cancel.
            await asyncio.sleep(0.2)
            await server.stop()
    return rows


async def bench_length(uri: str, transcriber: Transcriber, results: list, seconds: float, tokens: int,
                       repeats: int) -> dict:
    audio, _ = speech_16k(seconds)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    transcriber.forced_tokens = tokens
    for _ in range(2):  # warm-up at this shape
        await one_request(uri, pcm)
    if transcriber.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    results.clear()
    latencies = [await one_request(uri, pcm) for _ in range(repeats)]
    row = {"audio_s": seconds, "tokens": tokens, "repeats": repeats,
           "latency_p50_ms": round(1000 * pct(latencies, 50), 1), "latency_p90_ms": round(1000 * pct(latencies, 90), 1),
           "prefill_ms": round(1000 * statistics.median(r.prefill_s for r in results), 1),
           "ms_per_token": round(1000 * statistics.median(r.decode_s / max(r.new_tokens - 1, 1) for r in results), 2)}
    if transcriber.device.type == "cuda":
        row["peak_gpu_GiB"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes: checks the script on a CPU")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"])
    parser.add_argument("--lengths", default="2:10,5:20,15:55", help="seconds:forced_tokens,...")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    device = pick_device(args.device)
    dtype = pick_dtype(args.dtype, device)
    started = time.perf_counter()
    transcriber = build_model(args.tiny, device, dtype)
    head = {"model": "tiny" if args.tiny else "GLM-ASR-Nano-2512 shapes, random weights",
            "params_B": round(sum(p.numel() for p in transcriber.model.parameters()) / 1e9, 4),
            "device": str(device), "dtype": str(dtype).split(".")[-1], "torch": torch.__version__,
            "build_s": round(time.perf_counter() - started, 1)}
    if device.type == "cuda":
        head["gpu"] = torch.cuda.get_device_name(device)
        head["weights_GiB"] = round(torch.cuda.memory_allocated() / 2**30, 2)
    transcriber.warm_up()
    has_espeak = speech_16k(0.1)[1]
    vad = SileroVad(find_model()) if has_espeak else _AlwaysSpeech()
    head["audio"] = "espeak-ng speech, Silero VAD on" if has_espeak else "noise, VAD off (no espeak-ng)"
    print(json.dumps(head), flush=True)
    rows = asyncio.run(bench(args, transcriber, vad))
    header = ("audio", "tokens", "p50 ms", "p90 ms", "prefill ms", "ms/token", "peak GiB")
    print("\n" + " ".join(f"{h:>10}" for h in header))
    keys = ("audio_s", "tokens", "latency_p50_ms", "latency_p90_ms", "prefill_ms", "ms_per_token", "peak_gpu_GiB")
    for row in rows:
        print(" ".join(f"{row.get(k, '-'):>10}" for k in keys))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
