"""ASR latency benchmark (prints figures; not a test): the stock and the fast engine side by side.

    .cache/venvs/asr/bin/python tests/bench/bench_asr.py --device cuda --dtype bfloat16 \
        --paths stock,fast --lengths 2:10,5:20,15:55 --repeats 5          # real size, on the GPU
    .cache/venvs/asr/bin/python tests/bench/bench_asr.py --tiny --device cpu --paths stock,fast

It builds a random-weight GLM-ASR of the real size (``GlmAsrConfig()`` defaults are
GLM-ASR-Nano-2512: 2.26 B parameters with the untied head) directly on the device,
puts it behind the real engine (AsrEngine + EngineServer on a unix socket, VAD
included) and sends espeak-ng speech tiled to 2, 5 and 15 s in 100 ms chunks at
the pace of a microphone (``--pace``), as the daemon does while the key is held.
Random weights stop at random, so decoding is forced to a realistic number of tokens
(English speech is ~3-4 tokens/s; a segment gets its share by duration).

Paths, on the same model: ``stock`` is the engine as it was (dynamic cache, processor
inputs, everything decoded after audio-stop); ``fast`` is the engine as it runs now
(static cache with the decode step compiled at start-up on CUDA, features computed
while audio arrives, segments transcribed while the user speaks). Where the fast
decoder is unavailable (a CPU) the fast row names the decoder it fell back to.
Reported per length: time from ``audio-stop`` to the final ``transcript`` (p50/p90),
how long before audio-stop the first partial came, prefill (features + encoder +
prompt, to the first token), ms per further token, peak GPU memory.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import GlmAsrForConditionalGeneration  # noqa: E402
from wyoming.asr import Transcribe  # noqa: E402
from wyoming.audio import AudioChunk, AudioStart, AudioStop  # noqa: E402
from wyoming.client import AsyncClient  # noqa: E402

from engines.asr.decode import Backend, choose_backend  # noqa: E402
from engines.asr.engine import AsrEngine  # noqa: E402
from engines.asr.transcriber import Transcriber, compiler_problem, pick_device, pick_dtype  # noqa: E402
from engines.asr.vad import SileroVad, find_model  # noqa: E402
from engines.common.server import EngineServer  # noqa: E402
from tests.bench.speech import speech_16k  # noqa: E402
from tests.fixtures.tiny_glmasr import build_processor, build_tokenizer, nano_config, tiny_config  # noqa: E402


def build_model(tiny: bool, device: torch.device, dtype: torch.dtype) -> Transcriber:
    tokenizer = build_tokenizer()  # ids < 512 fit the real 59264-token vocabulary
    config = tiny_config(tokenizer) if tiny else nano_config(tokenizer)
    config._attn_implementation = "sdpa"
    torch.set_default_dtype(dtype)
    with torch.device(device):
        model = GlmAsrForConditionalGeneration(config).eval()
    torch.set_default_dtype(torch.float32)
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return Transcriber(model, build_processor(tokenizer), device, dtype)


class _AlwaysSpeech:
    """Without espeak-ng the audio is noise: every window counts as speech."""

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        return np.ones(-(-audio.size // 512), dtype=np.float32)

    def stream(self) -> _AlwaysSpeech.Stream:
        return self.Stream()

    class Stream:
        def __init__(self) -> None:
            self.pending = 0

        def push(self, audio: np.ndarray) -> np.ndarray:
            self.pending += audio.size
            count, self.pending = divmod(self.pending, 512)
            return np.ones(count, dtype=np.float32)

        def finish(self) -> np.ndarray:
            count, self.pending = int(self.pending > 0), 0
            return np.ones(count, dtype=np.float32)


async def one_request(uri: str, pcm: bytes, pace: float) -> tuple[float, float | None]:
    """Seconds from sending audio-stop to the final transcript, and how long before audio-stop the first
    partial came (None: none did). Chunks of 100 ms, sent at ``pace`` x real time (0: all at once)."""
    client = AsyncClient.from_uri(uri)
    await client.connect()
    try:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate=16000, width=2, channels=1).event())
        first_partial: list[float] = []
        reply = asyncio.create_task(_final(client, first_partial))
        started = time.perf_counter()
        for i in range(0, len(pcm), 3200):
            if pace:
                await asyncio.sleep(max(0.0, started + i / 32000 / pace - time.perf_counter()))
            await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=pcm[i:i + 3200]).event())
        stop = time.perf_counter()
        await client.write_event(AudioStop().event())
        end = await reply
        lead = stop - first_partial[0] if first_partial and first_partial[0] < stop else None
        return end - stop, lead
    finally:
        await client.disconnect()


async def _final(client: AsyncClient, first_partial: list[float]) -> float:
    while (event := await client.read_event()) is not None:
        if event.type == "transcript-chunk" and not first_partial:
            first_partial.append(time.perf_counter())
        if event.type == "transcript":
            return time.perf_counter()
        if event.type == "error":
            raise RuntimeError(f"engine error: {event.data}")
    raise RuntimeError("engine closed the connection")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


async def bench(args: argparse.Namespace, path: str, transcriber: Transcriber, vad) -> list[dict]:
    """Every length through one engine: the stock one or the fast one."""
    engine = AsrEngine(transcriber, vad, "random-" + ("tiny" if args.tiny else "real-size"), None,
                       live=path == "fast")
    results = []
    original = transcriber.transcribe

    def recording(*a, **k):
        results.append(result := original(*a, **k))
        return result

    transcriber.transcribe = recording
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            uri = f"unix://{tmp}/asr.sock"
            server = EngineServer(engine)
            await server.start(uri)
            try:
                for spec in args.lengths.split(","):
                    seconds, tokens = (float(x) for x in spec.split(":"))
                    row = await bench_length(uri, transcriber, results, seconds, int(tokens), args)
                    rows.append({"path": path, "decoder": transcriber.backend.name, **row})
                    print(json.dumps(rows[-1]), flush=True)
            finally:
                # Let the server see the last client's EOF first: Python 3.11's start_server logs a
                # spurious CancelledError for connection tasks that stop() has to cancel.
                await asyncio.sleep(0.2)
                await server.stop()
    finally:
        transcriber.transcribe = original
    return rows


async def bench_length(uri: str, transcriber: Transcriber, results: list, seconds: float, tokens: int,
                       args: argparse.Namespace) -> dict:
    audio, _ = speech_16k(seconds)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    transcriber.forced_rate = tokens / seconds
    await one_request(uri, pcm, pace=0)  # warm-up at these shapes (all at once: no need to wait)
    if transcriber.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    results.clear()
    timings = [await one_request(uri, pcm, args.pace) for _ in range(args.repeats)]
    latencies = [t for t, _ in timings]
    leads = [lead for _, lead in timings if lead is not None]
    row = {"audio_s": seconds, "tokens": tokens, "repeats": args.repeats,
           "latency_p50_ms": round(1000 * pct(latencies, 50), 1), "latency_p90_ms": round(1000 * pct(latencies, 90), 1),
           "partial_before_stop_s": round(statistics.median(leads), 2) if leads else None,
           "windows_per_request": round(len(results) / args.repeats, 1),
           "prefill_ms": round(1000 * statistics.median(r.prefill_s for r in results), 1),
           "ms_per_token": round(1000 * statistics.median(r.decode_s / max(r.new_tokens - 1, 1) for r in results), 2)}
    if transcriber.device.type == "cuda":
        row["peak_gpu_GiB"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return row


def transcriber_for(path: str, base: Transcriber, args: argparse.Namespace) -> Transcriber:
    """The same model behind the stock or the fast configuration."""
    if path == "stock":
        transcriber = Transcriber(base.model, base.processor, base.device, base.dtype,
                                  Backend(False, False, "stock: dynamic cache"))
        transcriber.stock_inputs = True
    else:
        backend = choose_backend(args.decode, base.device.type, compiler_problem(base.device))
        transcriber = Transcriber(base.model, base.processor, base.device, base.dtype, backend)
    started = time.perf_counter()
    transcriber.warm_up()
    print(json.dumps({"path": path, "decoder": transcriber.backend.name, "why": transcriber.backend.reason,
                      "warm_up_s": round(time.perf_counter() - started, 1)}), flush=True)
    return transcriber


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes: checks the script on a CPU")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"])
    parser.add_argument("--lengths", default="2:10,5:20,15:55", help="seconds:forced_tokens,...")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--paths", default="stock,fast", help="stock, fast or both (comma-separated)")
    parser.add_argument("--decode", default="auto", choices=["auto", "static", "dynamic"],
                        help="the fast path's decoder (the engine's --decode)")
    parser.add_argument("--pace", type=float, default=1.0, help="send audio at this many times real time; 0: at once")
    args = parser.parse_args()
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    if not paths or set(paths) - {"stock", "fast"}:
        parser.error(f"--paths {args.paths!r}: use stock, fast or stock,fast")
    device = pick_device(args.device)
    dtype = pick_dtype(args.dtype, device)
    started = time.perf_counter()
    base = build_model(args.tiny, device, dtype)
    head = {"model": "tiny" if args.tiny else "GLM-ASR-Nano-2512 shapes, random weights",
            "params_B": round(sum(p.numel() for p in base.model.parameters()) / 1e9, 4),
            "device": str(device), "dtype": str(dtype).split(".")[-1], "torch": torch.__version__,
            "transformers": transformers.__version__, "build_s": round(time.perf_counter() - started, 1),
            "pace": args.pace}
    if device.type == "cuda":
        head["gpu"] = torch.cuda.get_device_name(device)
        head["weights_GiB"] = round(torch.cuda.memory_allocated() / 2**30, 2)
    has_espeak = speech_16k(0.1)[1]
    vad = SileroVad(find_model()) if has_espeak else _AlwaysSpeech()
    head["audio"] = "espeak-ng speech, Silero VAD on" if has_espeak else "noise, VAD off (no espeak-ng, no SISYPHUS_SPEECH_WAV)"
    print(json.dumps(head), flush=True)
    rows = []
    for path in paths:
        rows += asyncio.run(bench(args, path, transcriber_for(path, base, args), vad))
    header = ("path", "audio s", "tokens", "p50 ms", "p90 ms", "partial s", "windows", "prefill ms", "ms/token",
              "peak GiB")
    print("\n" + " ".join(f"{h:>10}" for h in header))
    keys = ("path", "audio_s", "tokens", "latency_p50_ms", "latency_p90_ms", "partial_before_stop_s",
            "windows_per_request", "prefill_ms", "ms_per_token", "peak_gpu_GiB")
    for row in sorted(rows, key=lambda r: (r["audio_s"], r["path"] != "stock")):
        print(" ".join(f"{'-' if row.get(k) is None else row[k]!s:>10}" for k in keys))
    for path in paths:
        print(f"{path}: {next(r['decoder'] for r in rows if r['path'] == path)}")
    print("partial s: how long before audio-stop the first partial transcript arrived (median)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
