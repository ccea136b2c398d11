"""Engines that die at every moment of their life, through the real daemon: inside the first
``describe`` (the readiness check), inside a health probe, mid-synthesis, mid-transcription and
while being stopped. Each is restarted, its failure stays visible in ``status``, and the next turn
is answered. A remote engine nobody listens for is reported at once, and a turn fails fast with why.

The fake engines die once (``--once-file``): the process started after the death runs clean.
Every wait is on a state or an event, never on a guessed delay.
"""
from __future__ import annotations

import time

import pytest

from tests.integration.test_cli import cli
from tests.integration.test_conversation import QUESTION, daemon
from tests.support.daemon import Daemon, fake_engine_command
from tests.support.openai_server import Script, ThreadedServer

# moment: (engine, fault, what its death leaves in status' last_error, any of; () for a stop: no failure).
# The fakes exit with 6 inside describe, 4 mid-stream, 5 while stopped. A describe cut by a death is
# told by the exit, or by the cut when the exit comes later than the supervisor waits for it.
MOMENTS = {
    "first_describe": ("tts", ("--die-in-describe", "1"), ("exited with status 6", "closed the connection")),
    "health_probe": ("tts", ("--die-in-describe", "2"), ("exited with status 6",)),
    "mid_synthesis": ("tts", ("--die-mid-stream",), ("exited with status 4",)),
    "mid_transcription": ("asr", ("--die-mid-stream",), ("exited with status 4",)),
    "while_stopped": ("tts", ("--die-on-stop",), ()),
}


@pytest.fixture
def llm():
    server = ThreadedServer(default=Script(reply="It is sunny in Paris today. Enjoy your walk!"))
    yield server.server
    server.stop()


def engine(d: Daemon, name: str) -> dict:
    return d.status()["engines"][name]


def answered(d: Daemon) -> None:
    """A whole turn, from key-down to its timings, without an error."""
    start = d.turn()
    d.turn_end(start, timeout=30)
    assert "error" not in d.kinds(start), d.kinds(start)


def provoke(d: Daemon, moment: str) -> None:
    """Bring the engine to the moment it dies at (the describes come by themselves)."""
    if moment in ("mid_synthesis", "mid_transcription"):
        start = d.turn()
        i = d.wait_event(lambda e: e["kind"] in ("error", "timings"), start=start, timeout=30)
        assert d.events[i]["kind"] == "error" and d.events[i]["code"] == "engine_died", d.events[i]
    elif moment == "while_stopped":
        d.ctl("restart-engines")


@pytest.mark.parametrize("moment", MOMENTS)
def test_an_engine_dying_at_any_moment_is_restarted_and_the_next_turn_answered(tmp_path, llm, moment):
    name, fault, error = MOMENTS[moment]
    died = tmp_path / "died"
    transcript = ("--transcript", QUESTION) if name == "asr" else ()
    command = fake_engine_command(name, *transcript, *fault, "--once-file", str(died))
    with daemon(tmp_path, llm, **{name: {"command": command}}) as d:
        provoke(d, moment)
        d.wait(died.exists, 30, f"the {name} engine dying ({moment})")
        d.wait(lambda: engine(d, name)["state"] == "ready" and engine(d, name)["pid"], 30, f"{name} ready again")
        if error:
            d.wait(lambda: any(e in engine(d, name)["last_error"] for e in error), 10, f"{name}'s death in status")
        answered(d)
        assert all(e["state"] != "failed" for e in d.events if e["kind"] == "engine")


def test_an_unreachable_remote_engine_says_why_at_once_and_a_turn_fails_fast(tmp_path, llm):
    refused = "connection refused to tcp://127.0.0.1:1"
    with daemon(tmp_path, llm, tts={"uri": "tcp://127.0.0.1:1"}).start(ready=("asr",)) as d:
        d.wait(lambda: refused in engine(d, "tts")["last_error"], 5, "the refusal in status")
        seen: dict = {}  # one snapshot: it retries every few tenths of a second, starting ⇄ backoff
        d.wait(lambda: seen.update(engine(d, "tts")) or seen["state"] == "backoff", 10, "tts backing off")
        assert f"unreachable ({refused})" in seen["reason"] and "retrying in" in seen["reason"], seen
        shown = cli(d, "status").stdout  # on the backoff line, or as the last error while it starts again
        row = next(line for line in shown.splitlines() if line.startswith("tts "))  # the engine's one line
        assert f"unreachable ({refused})" in row, shown
        start = d.turn()
        released = time.monotonic()
        i = d.wait_event(lambda e: e["kind"] in ("error", "timings"), start=start, timeout=30)
        assert time.monotonic() - released < 5, "the turn waited for an engine nobody answers for"
        assert d.events[i]["kind"] == "error" and d.events[i]["code"] == "engine_unavailable", d.events[i]
        assert refused in d.events[i]["text"], d.events[i]
        d.wait_state("idle", start)
