"""Benchmark (prints figures; not a test): the daemon's own overhead from key-up to the first
audio sample handed to the output stream, with instant fake engines and an instant local LLM.

    .venv/bin/python tests/bench/bench_daemon.py [--turns 50]

Every stage is real (daemon process, engine subprocesses, unix sockets, HTTP to a local
OpenAI-protocol server, the sentence chunker, the playback queue); only the models are
instant, so what remains is sisyphus' overhead.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.integration.test_conversation import settings  # noqa: E402
from tests.support.daemon import Daemon, write_tone_wav  # noqa: E402
from tests.bench.stats import percentile  # noqa: E402
from tests.support.openai_server import Script, ThreadedServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=50)
    args = parser.parse_args()
    server = ThreadedServer(default=Script(reply="Sure. Here is a short answer for you."))
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        mic = write_tone_wav(tmp_path / "speech.wav", seconds=0.3)
        d = Daemon(tmp_path, settings(server.server.url), "--fake-engines", "--mic-file", str(mic), "--no-audio")
        stages: dict[str, list[float]] = {}
        with d:
            for _ in range(args.turns):
                start = d.turn(hold_s=0.35)
                timings = d.events[d.turn_end(start)]["timings"]
                for stage, ms in timings.items():
                    stages.setdefault(stage, []).append(ms)
    server.stop()
    print(f"daemon overhead, {args.turns} turns, instant fake engines and LLM (ms from key-up)")
    print(f"{'stage':<16}{'p50':>8}{'p90':>8}")
    for stage in ("transcript", "first_token", "first_sentence", "first_audio", "end"):
        if stage in stages:
            print(f"{stage:<16}{statistics.median(stages[stage]):>8.1f}{percentile(stages[stage], 0.9):>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
