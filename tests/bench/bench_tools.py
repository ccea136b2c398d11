"""Benchmark (prints figures; not a test): what a tool call adds to a turn, with a tool that answers
at once (the ``weather`` tool of tests/support/mcp_server.py, a real MCP server on the ``mcp`` SDK).

    PYTHONPATH=$PWD .venv/bin/python tests/bench/bench_tools.py [--turns 20] [--http]

- tool call → result at the LLM: from the end of the LLM's streamed reply that carried the tool call
  (its last byte sent) to the follow-up request, carrying the result, arriving at the LLM server.
  That is the delta assembly, the MCP call over stdio (or Streamable HTTP with --http) and a new request.
- key-up → first spoken word of a tool turn: the daemon's ``first_audio`` timing (first audio sample
  handed to the output, ms from key-up) when the LLM's first reply is only the tool call, so the first
  word comes from the follow-up reply; beside it the same for a turn without tools.
Real daemon process, fake engines as subprocesses (instant), a local OpenAI-protocol server (instant).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.bench.stats import percentile  # noqa: E402
from tests.integration.test_tools import TOKEN, ToolDaemon, stdio_server  # noqa: E402
from tests.support.openai_server import Script, ThreadedServer  # noqa: E402

TOOL_TURN = [Script(reply="", tool_calls=[{"name": "weather", "arguments": {"city": "Paris"}}]),
             Script(reply="Here is the weather: {tool}")]


def row(name: str, values: list[float]) -> str:
    return f"{name:<44}{statistics.median(values):>8.1f}{percentile(values, 0.9):>8.1f}{max(values):>8.1f}"


def http_server(marks: Path) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.mcp_server", "--marks", str(marks), "--http",
                             "--token", TOKEN], stdout=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    port = int(proc.stdout.readline().split()[1])  # type: ignore[union-attr]
    return proc, {"name": "desk", "url": f"http://127.0.0.1:{port}/mcp",
                  "headers": {"Authorization": "Bearer ${DESK_TOKEN}"}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--http", action="store_true", help="the MCP server over Streamable HTTP (else stdio)")
    args = parser.parse_args()
    llm = ThreadedServer(default=Script(reply="Here is a short answer for you."))
    figures: dict[str, list[float]] = {"call": [], "tool_first_audio": [], "plain_first_audio": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path, proc = Path(tmp), None
        entry = stdio_server(tmp_path / "marks")
        if args.http:
            proc, entry = http_server(tmp_path / "marks")
        try:
            with ToolDaemon(tmp_path, llm.server, [entry], env={"DESK_TOKEN": TOKEN}) as d:
                for n in range(args.turns + 1):  # the first turn warms up (connections, imports)
                    llm.server.enqueue(*TOOL_TURN)
                    before = len(llm.server.chats)
                    start, end = d.say("What is the weather in Paris?")
                    chats = llm.server.chats[before:]
                    assert len(chats) == 2 and "21 degrees" in d.spoken(start, end), d.spoken(start, end)
                    plain, plain_end = d.say("Tell me something.")
                    if n:
                        figures["call"].append((chats[1].started_at - chats[0].ended_at) * 1000)
                        figures["tool_first_audio"].append(d.events[end]["timings"]["first_audio"])
                        figures["plain_first_audio"].append(d.events[plain_end]["timings"]["first_audio"])
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(10)
    llm.stop()
    transport = "Streamable HTTP" if args.http else "stdio"
    print(f"tool turns through the daemon, MCP over {transport}, a tool that answers at once, {args.turns} turns (ms)")
    print(f"{'':<44}{'p50':>8}{'p90':>8}{'max':>8}")
    print(row("tool call sent -> result at the LLM", figures["call"]))
    print(row("key-up -> first audio, tool turn", figures["tool_first_audio"]))
    print(row("key-up -> first audio, turn without a tool", figures["plain_first_audio"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
