"""Benchmark of the TTS engine: time to first audio, real-time factor, peak memory. Not a test.

Run with the TTS engine venv's python, on an NVIDIA GPU:

    .cache/venvs/tts/bin/python tests/bench/bench_tts.py [--runs 20] [--frames 100]
    .cache/venvs/tts/bin/python tests/bench/bench_tts.py --tiny     # proves the harness on a CPU

It builds a random-weight CustomVoice model of the real 1.7B geometry in bf16 (``--tiny``:
the few-MB test model in fp32), starts the real engine subprocess on a unix socket and
measures real Wyoming ``synthesize`` requests from the client side:

- TTFA: request sent -> first ``audio-chunk`` received (p50 / p90 over the runs);
- RTF: wall time from first to last chunk / seconds of audio in between
  (< 1 means faster than real time; each utterance is exactly --frames codec frames,
  because random weights emit EOS at random, so --max-new-tokens fixes the length);
- peak memory of the engine process: GPU memory from nvidia-smi (includes the CUDA
  context), or peak RSS when there is no GPU.
Random weights have the real compute cost, so the timings are honest; the audio is noise.
"""
from __future__ import annotations

import argparse
import asyncio
import os
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
from wyoming.info import Describe  # noqa: E402
from wyoming.tts import Synthesize, SynthesizeVoice  # noqa: E402

TEXT = "The quick brown fox jumps over the lazy dog, and then it runs far away into the forest"  # no terminator


def build_model(out: Path, tiny: bool) -> Path:
    target = out / ("tiny" if tiny else "1.7b")
    if not (target / "custom_voice" / "config.json").is_file():
        import torch

        from tests.fixtures.tiny_qwen3tts import build

        print(f"building a random-weight {'tiny' if tiny else '1.7B'} CustomVoice model in {target} ...", flush=True)
        build(target, "tiny" if tiny else "1.7b", torch.float32 if tiny else torch.bfloat16, kinds=("custom_voice",))
    return target / "custom_voice"


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
        try:
            out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
        rows = [line.split(",") for line in out.splitlines() if line.strip()]
        used = [float(mem) for pid, mem in rows if int(pid) == self.pid]
        return used[0] if used else None

    def _rss(self) -> float:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return 0.0
        line = next((l for l in status.splitlines() if l.startswith("VmHWM:")), "VmHWM: 0 kB")
        return int(line.split()[1]) / 1024


async def wait_ready(uri: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"engine exited with {proc.returncode}; see its log above")
        try:
            async with AsyncClient.from_uri(uri) as client:
                await client.write_event(Describe().event())
                if (await asyncio.wait_for(client.read_event(), 5)).type == "info":
                    return
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.5)
    raise SystemExit(f"engine not ready after {timeout} s")


async def one_run(uri: str) -> tuple[float, float, float]:
    """(time to first chunk, seconds of audio, seconds from first to last chunk)."""
    async with AsyncClient.from_uri(uri) as client:
        sent = time.perf_counter()
        await client.write_event(Synthesize(text=TEXT, voice=SynthesizeVoice(name="ryan")).event())
        first = last = None
        samples = 0
        while True:
            event = await client.read_event()
            if event is None or event.type in ("audio-stop", "error"):
                if event is None or event.type == "error":
                    raise SystemExit(f"request failed: {event and event.data}")
                break
            if event.type == "audio-chunk":
                last = time.perf_counter()
                first = first or last
                samples += len(event.payload) // 2
    return first - sent, samples / 24000, last - first


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def bench(args: argparse.Namespace, uri: str, proc: subprocess.Popen) -> None:
    await wait_ready(uri, proc, timeout=1800)
    for _ in range(args.warmup):
        await one_run(uri)
    results = [await one_run(uri) for _ in range(args.runs)]
    ttfa = [r[0] * 1000 for r in results]
    rtf = [r[2] / max(r[1] - 0.16, 1e-6) for r in results]  # the first chunk's 160 ms came before "first"
    print(f"\nruns={args.runs} frames/utterance={args.frames} audio/utterance={results[0][1]:.2f} s")
    print(f"time to first audio chunk: p50 {statistics.median(ttfa):.0f} ms, p90 {pct(ttfa, 0.9):.0f} ms")
    print(f"real-time factor while streaming (wall/audio, <1 = faster than real time): "
          f"p50 {statistics.median(rtf):.3f}, p90 {pct(rtf, 0.9):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the TTS engine (prints figures).")
    parser.add_argument("--tiny", action="store_true", help="tiny CPU model: check the harness without a GPU")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--frames", type=int, default=100, help="codec frames per utterance (12.5 per second)")
    parser.add_argument("--models", type=Path, default=Path(tempfile.gettempdir()) / "sisyphus-bench-tts")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--attn", default="sdpa")
    args = parser.parse_args()
    model = build_model(args.models, args.tiny)
    sock = Path(tempfile.mkdtemp()) / "tts.sock"
    argv = [sys.executable, "-m", "engines.tts", "--uri", f"unix://{sock}", "--custom-voice-model", str(model),
            "--device", "cpu" if args.tiny else args.device, "--attn", args.attn,
            "--max-new-tokens", str(args.frames + 1), "--voices-dir", str(sock.parent / "voices")]
    proc = subprocess.Popen(argv, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    watch = MemoryWatch(proc.pid)
    watch.start()
    try:
        asyncio.run(bench(args, f"unix://{sock}", proc))
        print(f"peak {watch.kind} memory of the engine process: {watch.peak_mib:.0f} MiB")
    finally:
        watch.stop.set()
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
