"""First audio and real-time factor of one TTS engine over Wyoming vs over its OpenAI speech API (``--http``).

One engine process serves both protocols on the same model; each round sends the same text over
Wyoming TCP (``synthesize``), over HTTP with a kept-alive aiohttp session (``POST /v1/audio/speech``,
streamed ``pcm``) and through the official ``openai`` client (``with_streaming_response``), in
rotating order. First audio: request sent -> first audio bytes in the client. RTF: request time /
seconds of audio. The HTTP side should cost under 5 ms more than Wyoming.

    .venv/bin/python tests/bench/bench_http.py --engine fake      # protocol cost only (instant audio)
    .venv/bin/python tests/bench/bench_http.py --engine tiny      # tiny random-weight Qwen3-TTS on CPU
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Awaitable, Callable

import aiohttp
import openai
from wyoming.client import AsyncClient
from wyoming.tts import Synthesize, SynthesizeVoice

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.bench.stats import percentile  # noqa: E402
from tests.support.http_engine import HttpEngine  # noqa: E402
from tests.support.venvs import VENVS  # noqa: E402

RATE, WIDTH = 24000, 2
Run = Callable[[str], Awaitable[tuple[float, float, int]]]  # text -> (first audio s, total s, audio bytes)


def start(engine: str, tmp: Path) -> tuple[HttpEngine, str]:
    if engine == "fake":
        return HttpEngine([sys.executable, "-m", "engines.fake", "tts"], tmp / "engine.log"), "alto"
    python = VENVS / "tts" / "bin" / "python"
    subprocess.run([str(python), str(REPO / "tests/fixtures/tiny_qwen3tts.py"), str(tmp / "models")], check=True,
                   capture_output=True, timeout=600)
    return HttpEngine([str(python), "-m", "engines.tts", "--custom-voice-model", str(tmp / "models/custom_voice"),
                       "--voices-dir", str(tmp / "voices"), "--device", "cpu", "--max-new-tokens", "40"],
                      tmp / "engine.log"), "vivian"


def over_wyoming(uri: str, voice: str) -> Run:
    async def run(text: str) -> tuple[float, float, int]:
        started = time.perf_counter()
        first, size = 0.0, 0
        async with AsyncClient.from_uri(uri) as client:
            await client.write_event(Synthesize(text=text, voice=SynthesizeVoice(name=voice)).event())
            while (event := await client.read_event()) is not None and event.type != "audio-stop":
                if event.type == "audio-chunk" and event.payload:
                    first = first or time.perf_counter() - started
                    size += len(event.payload)
        return first, time.perf_counter() - started, size
    return run


def over_aiohttp(session: aiohttp.ClientSession, base_url: str, voice: str) -> Run:
    async def run(text: str) -> tuple[float, float, int]:
        started = time.perf_counter()
        first, size = 0.0, 0
        body = {"model": "tts-1", "input": text, "voice": voice, "response_format": "pcm"}
        async with session.post(f"{base_url}/audio/speech", json=body) as response:
            response.raise_for_status()
            async for data in response.content.iter_any():
                first = first or time.perf_counter() - started
                size += len(data)
        return first, time.perf_counter() - started, size
    return run


def over_openai(client: openai.AsyncOpenAI, voice: str) -> Run:
    async def run(text: str) -> tuple[float, float, int]:
        started = time.perf_counter()
        first, size = 0.0, 0
        async with client.audio.speech.with_streaming_response.create(model="tts-1", voice=voice, input=text,
                                                                      response_format="pcm") as response:
            async for data in response.iter_bytes():
                first = first or time.perf_counter() - started
                size += len(data)
        return first, time.perf_counter() - started, size
    return run


async def bench(engine: HttpEngine, voice: str, text: str, rounds: int) -> dict[str, list[tuple[float, float, int]]]:
    async with aiohttp.ClientSession() as session:
        client = openai.AsyncOpenAI(base_url=engine.base_url, api_key="unused", max_retries=0)
        runs: dict[str, Run] = {"wyoming": over_wyoming(engine.uri, voice),
                                "http (aiohttp)": over_aiohttp(session, engine.base_url, voice),
                                "http (openai)": over_openai(client, voice)}
        for run in runs.values():  # warm-up: connections, caches
            await run(text)
        results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in runs}
        names = list(runs)
        for i in range(rounds):
            for name in names[i % 3:] + names[:i % 3]:  # rotate the order: no side always goes first
                results[name].append(await runs[name](text))
        await client.close()
    return results


def report(results: dict[str, list[tuple[float, float, int]]]) -> None:
    base = statistics.median(r[0] for r in results["wyoming"])
    print(f"{'protocol':<16} {'first audio p50':>16} {'p90':>9} {'vs wyoming':>11} {'RTF p50':>8} {'audio s':>8}")
    for name, rows in results.items():
        firsts = [r[0] for r in rows]
        rtf = [r[1] / (r[2] / (RATE * WIDTH)) for r in rows]
        p50 = statistics.median(firsts)
        print(f"{name:<16} {p50 * 1000:>13.2f} ms {percentile(firsts, 0.9) * 1000:>6.2f} ms "
              f"{(p50 - base) * 1000:>+8.2f} ms {statistics.median(rtf):>8.3f} {rows[0][2] / (RATE * WIDTH):>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("fake", "tiny"), default="fake")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--text", default="Hello there. The weather today is sunny with a light breeze.")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-http-"))
    engine, voice = start(args.engine, tmp)
    try:
        engine.wait_ready(timeout=600)
        print(f"{args.engine} engine, {args.rounds} rounds, text of {len(args.text)} characters")
        report(asyncio.run(bench(engine, voice, args.text, args.rounds)))
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
