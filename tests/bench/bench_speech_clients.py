"""The daemon's own speech clients over Wyoming vs over the OpenAI audio API, for the same engine process.

One engine serves both protocols (``--uri tcp://… --http …``); each round runs what a turn runs
(``daemon.speech.clients.synthesize`` for a three-chunk reply, ``clients.transcribe`` for one second
of audio) once per protocol, in rotating order. TTS first audio: call -> first audio chunk in the
daemon; TTS total: the three chunks; ASR: call (audio all there, as at key-up) -> transcript.

    .venv/bin/python tests/bench/bench_speech_clients.py --engine fake --rounds 30
    .venv/bin/python tests/bench/bench_speech_clients.py --engine tiny --rounds 5   # tiny Qwen3-TTS on CPU
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from daemon.speech import clients  # noqa: E402
from daemon.speech.openai_audio import HttpOptions  # noqa: E402
from tests.bench.bench_http import start  # noqa: E402
from tests.bench.stats import percentile  # noqa: E402
from tests.support.http_engine import HttpEngine  # noqa: E402

CHUNKS = ("Hello there. ", "This is the second sentence of the reply. ", "And a third one.")
OPTIONS = HttpOptions(timeout_s=120)


async def chunks():
    for chunk in CHUNKS:
        yield chunk


async def second_of_audio():
    for _ in range(10):
        yield b"\x00\x10" * 1600


async def speak(uri: str, voice: str) -> tuple[float, float]:
    started = time.perf_counter()
    first = 0.0
    async for _audio in clients.synthesize("tts", uri, chunks(), voice=voice, http=OPTIONS):
        first = first or time.perf_counter() - started
    return first, time.perf_counter() - started


async def hear(uri: str) -> float:
    started = time.perf_counter()
    await clients.transcribe("asr", uri, second_of_audio(), http=OPTIONS)
    return time.perf_counter() - started


def row(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return f"{name:<28} p50 {statistics.median(ms):7.1f} ms  p90 {percentile(ms, 90):7.1f} ms"


async def run(tts: HttpEngine, asr: HttpEngine, voice: str, rounds: int) -> None:
    sides = {"wyoming": (tts.uri, asr.uri), "http": (tts.base_url, asr.base_url)}
    first: dict[str, list[float]] = {k: [] for k in sides}
    total: dict[str, list[float]] = {k: [] for k in sides}
    heard: dict[str, list[float]] = {k: [] for k in sides}
    for side in sides:  # warm-up, not counted
        await speak(sides[side][0], voice)
        await hear(sides[side][1])
    for n in range(rounds):
        for side in (list(sides) if n % 2 == 0 else list(sides)[::-1]):
            f, t = await speak(sides[side][0], voice)
            first[side].append(f)
            total[side].append(t)
            heard[side].append(await hear(sides[side][1]))
    for side in sides:
        print(row(f"TTS first audio, {side}", first[side]))
    for side in sides:
        print(row(f"TTS 3 chunks, {side}", total[side]))
    for side in sides:
        print(row(f"ASR key-up -> text, {side}", heard[side]))
    extra = statistics.median(first["http"]) - statistics.median(first["wyoming"])
    print(f"HTTP costs {extra * 1000:+.1f} ms at first audio (p50) over {rounds} rounds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=("fake", "tiny"), default="fake")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tts, voice = start(args.engine, Path(tmp))
        asr = HttpEngine([sys.executable, "-m", "engines.fake", "asr"], Path(tmp) / "asr.log")
        try:
            tts.wait_ready()
            asr.wait_ready()
            asyncio.run(run(tts, asr, voice, args.rounds))
        finally:
            tts.stop()
            asr.stop()


if __name__ == "__main__":
    main()
