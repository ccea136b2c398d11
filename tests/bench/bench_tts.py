"""Benchmark of the TTS engine, stock and CUDA-graph paths side by side: prints figures. Not a test.

Run with the TTS engine venv's python, on an NVIDIA GPU:

    .cache/venvs/tts/bin/python tests/bench/bench_tts.py [--runs 20] [--frames 50] [--paths stock,graph]
    .cache/venvs/tts/bin/python tests/bench/bench_tts.py --tiny     # proves the harness on a CPU

It builds random-weight CustomVoice and Base models of the real 1.7B geometry in bf16
(``--tiny``: the few-MB test models in fp32) and, for each path, starts the real engine
subprocess (``--backend stock`` / ``--backend graph``) with both models, as the gpu profile
does, and measures real Wyoming ``synthesize`` requests from the client side:

- first audio: request sent -> first ``audio-chunk`` received (p50 / p90 over the runs);
- x real time: seconds of audio / wall seconds from request to ``audio-stop`` (each
  utterance is exactly --frames codec frames: random weights emit EOS at random, so
  --max-new-tokens fixes the length; > 1 is faster than playback);
- GPU memory as the engine itself reports it in ``describe`` (torch, at rest and peak) and
  the process's peak from nvidia-smi (includes the CUDA context), else peak RSS;
- swap cost: a cloned voice (Base) after a preset (CustomVoice) moves the Base talker onto
  the GPU; the engine reports the last swap's milliseconds.
Without CUDA the graph path is unavailable: the engine serves stock and the table says so
instead of printing figures for it. Random weights have the real compute cost; the audio is noise.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from wyoming.client import AsyncClient  # noqa: E402
from wyoming.event import Event  # noqa: E402
from wyoming.info import Describe  # noqa: E402
from wyoming.tts import Synthesize, SynthesizeVoice  # noqa: E402

from tests.bench.gpu_memory import mib_by_pid  # noqa: E402
from tests.bench.stats import percentile  # noqa: E402

TEXT = "The quick brown fox jumps over the lazy dog, and then it runs far away into the forest"  # no terminator


def build_models(out: Path, tiny: bool) -> dict[str, Path]:
    target = out / ("tiny" if tiny else "1.7b")
    kinds = ("custom_voice", "base")
    if not all((target / kind / "config.json").is_file() for kind in kinds):
        import torch

        from tests.fixtures.tiny_qwen3tts import build

        print(f"building random-weight {'tiny' if tiny else '1.7B'} models in {target} ...", flush=True)
        build(target, "tiny" if tiny else "1.7b", torch.float32 if tiny else torch.bfloat16, kinds=kinds)
    return {kind: target / kind for kind in kinds}


class MemoryWatch(threading.Thread):
    """Samples the engine's memory every 50 ms (GPU via nvidia-smi, else peak RSS)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_mib, self.kind, self.stop = pid, 0.0, "RSS", threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            gpu = self._gpu()
            if gpu is not None:
                self.kind, self.peak_mib = "GPU", max(self.peak_mib, gpu)
            else:
                self.peak_mib = max(self.peak_mib, self._rss())

    def _gpu(self) -> float | None:
        used = mib_by_pid() or {}
        return float(used[self.pid]) if self.pid in used else None

    def _rss(self) -> float:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return 0.0
        line = next((l for l in status.splitlines() if l.startswith("VmHWM:")), "VmHWM: 0 kB")
        return int(line.split()[1]) / 1024


async def describe(uri: str) -> str:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Describe().event())
        while (event := await asyncio.wait_for(client.read_event(), 10)).type != "info":
            pass
        return event.data["tts"][0]["description"]


async def wait_ready(uri: str, proc: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"engine exited with {proc.returncode}; see its log above")
        try:
            return await describe(uri)
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.5)
    raise SystemExit(f"engine not ready after {timeout} s")


async def one_run(uri: str, voice: str = "ryan") -> tuple[float, float, float]:
    """(time to first chunk, seconds of audio, seconds from request to audio-stop)."""
    async with AsyncClient.from_uri(uri) as client:
        sent = time.perf_counter()
        await client.write_event(Synthesize(text=TEXT, voice=SynthesizeVoice(name=voice)).event())
        first = None
        samples = 0
        while True:
            event = await client.read_event()
            if event is None or event.type == "error":
                raise SystemExit(f"request failed: {event and event.data}")
            if event.type == "audio-stop":
                break
            if event.type == "audio-chunk":
                first = first or time.perf_counter()
                samples += len(event.payload) // 2
    return first - sent, samples / 24000, time.perf_counter() - sent


async def add_voice(uri: str) -> None:
    """A 4 s harmonic reference as the cloned voice 'bench' (x-vector: no transcript)."""
    import numpy as np

    t = np.arange(4 * 24000) / 24000
    audio = 0.3 * np.sin(2 * np.pi * 140 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    pcm = (audio * 32767).astype("<i2").tobytes()
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Event("x-voice-add", data={"name": "bench", "rate": 24000, "width": 2,
                                                            "channels": 1, "replace": True}, payload=pcm))
        answer = await asyncio.wait_for(client.read_event(), 300)
        if answer.type != "x-voice-added":
            raise SystemExit(f"x-voice-add failed: {answer.data}")


def about_field(about: str, pattern: str) -> str:
    found = re.search(pattern, about)
    return found.group(1) if found else "-"


async def bench_path(args: argparse.Namespace, uri: str, proc: subprocess.Popen, path: str) -> dict:
    about = await wait_ready(uri, proc, timeout=1800)
    if not about.startswith(f"Qwen3-TTS-12Hz, streaming ({path.partition('-')[0]} path"):
        return {"path": path, "unavailable": about_field(about, r"stock because: (.*)\)$")}
    for _ in range(args.warmup):
        await one_run(uri)
    results = [await one_run(uri) for _ in range(args.runs)]
    await add_voice(uri)
    await one_run(uri, "bench")  # swaps the Base talker in (with both models on one GPU)
    swapped = await describe(uri)
    await one_run(uri)  # and back
    about = await describe(uri)
    ttfa = [r[0] * 1000 for r in results]
    speed = [r[1] / r[2] for r in results]
    return {"path": path, "runs": args.runs, "audio_s": results[0][1], "ttfa_p50": statistics.median(ttfa),
            "ttfa_p90": percentile(ttfa, 0.9), "x_realtime": statistics.median(speed),
            "rest_gib": about_field(about, r"GPU ([0-9.]+) GiB at rest"),
            "peak_gib": about_field(about, r"([0-9.]+) GiB peak"),
            "swap_ms": about_field(swapped, r"last ([0-9]+) ms")}


def run_engine(args: argparse.Namespace, models: dict[str, Path], path: str) -> dict:
    """One engine per row: ``stock``, ``graph`` (our frame loop) or ``graph-library`` (faster-qwen3-tts' loop).

    The static cache is the size the engine gives it by default (its default --max-new-tokens),
    so each step costs what it costs in use; --max-new-tokens only fixes the utterance length."""
    from engines.tts.loader import graph_cache_len
    from engines.tts.text import MAX_SENTENCE_CHARS

    sock = Path(tempfile.mkdtemp()) / "tts.sock"
    backend, _, loop = path.partition("-")
    argv = [sys.executable, "-m", "engines.tts", "--uri", f"unix://{sock}", "--custom-voice-model",
            str(models["custom_voice"]), "--base-model", str(models["base"]), "--backend", backend,
            "--device", "cpu" if args.tiny else args.device, "--attn", args.attn,
            "--max-new-tokens", str(args.frames + 1), "--voices-dir", str(sock.parent / "voices"),
            "--graph-cache", str(graph_cache_len(2048, MAX_SENTENCE_CHARS)), "--graph-loop", loop or "sisyphus"]
    print(f"== {path} path: {' '.join(argv[1:])}", flush=True)
    proc = subprocess.Popen(argv, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    watch = MemoryWatch(proc.pid)
    watch.start()
    try:
        row = asyncio.run(bench_path(args, f"unix://{sock}", proc, path))
        row["process_mib"], row["memory_kind"] = watch.peak_mib, watch.kind
        return row
    finally:
        watch.stop.set()
        proc.terminate()
        proc.wait(timeout=60)


def table(rows: list[dict], frames: int) -> str:
    head = (f"TTS engine over Wyoming, {frames} frames per utterance: stock vs CUDA-graph path\n"
            f"{'path':<13} {'first audio p50':>15} {'p90':>8} {'x real time':>11} {'GPU at rest':>11} "
            f"{'GPU peak':>9} {'process peak':>14} {'swap':>8}")
    lines = [head]
    for r in rows:
        if "unavailable" in r:
            lines.append(f"{r['path']:<13} unavailable here: {r['unavailable']} (no figures)")
            continue
        lines.append(f"{r['path']:<13} {r['ttfa_p50']:>12.0f} ms {r['ttfa_p90']:>5.0f} ms {r['x_realtime']:>10.2f}x "
                     f"{r['rest_gib']:>7} GiB {r['peak_gib']:>5} GiB {r['process_mib']:>6.0f} MiB {r['memory_kind']:<3} "
                     f"{r['swap_ms']:>5} ms")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the TTS engine (prints figures).")
    parser.add_argument("--tiny", action="store_true", help="tiny CPU models: check the harness without a GPU")
    parser.add_argument("--paths", default="stock,graph",
                        help="engines to compare, in this order: stock, graph, graph-library (faster-qwen3-tts' loop)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--frames", type=int, default=50, help="codec frames per utterance (12.5 per second)")
    parser.add_argument("--models", type=Path, default=Path(tempfile.gettempdir()) / "sisyphus-bench-tts")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--attn", default="sdpa")
    args = parser.parse_args()
    models = build_models(args.models, args.tiny)
    rows = [run_engine(args, models, path) for path in args.paths.split(",")]
    print("\n" + table(rows, args.frames))


if __name__ == "__main__":
    main()
