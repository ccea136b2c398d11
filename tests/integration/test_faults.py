"""Fault injection on real processes: 50 turns with engines SIGKILLed at random moments.

Each turn must either finish (timings) or end with a clear error event; a turn started
after the killed engine is READY again must succeed; nothing is orphaned or leaked.
The counts of injected faults and lost turns are printed (pytest -s) for the report.
"""
from __future__ import annotations

import collections
import os
import random
import signal
import time

from tests.integration.test_conversation import settings
from tests.integration.test_lifecycle import alive, wait_gone
from tests.support.daemon import Daemon, write_tone_wav
from tests.support.openai_server import Script, ThreadedServer

TURNS = int(os.environ.get("SISYPHUS_FAULT_TURNS", "50"))
POINTS = ("none", "before_turn", "during_asr", "during_tts")


def kill(d: Daemon, name: str) -> int:
    pid = d.status()["engines"][name]["pid"]
    os.kill(pid, signal.SIGKILL)
    return pid


def wait_ready(d: Daemon, *names: str) -> None:
    for name in names:
        d.wait(lambda n=name: d.status()["engines"][n]["state"] == "ready", 30, f"{name} ready again")


def test_fifty_turns_with_random_engine_kills(tmp_path):
    rng = random.Random(1234)
    server = ThreadedServer(default=Script(reply="One short sentence. And a second one to speak.",
                                           delta_delay_s=0.01))
    mic = write_tone_wav(tmp_path / "speech.wav", seconds=0.6)
    injected: collections.Counter = collections.Counter()
    lost: collections.Counter = collections.Counter()
    killed_pids: list[int] = []
    try:
        with Daemon(tmp_path, settings(server.server.url), "--fake-engines", "--mic-file", str(mic),
                    "--no-audio") as d:
            for _ in range(TURNS):
                point = rng.choice(POINTS)
                victim = rng.choice(("asr", "tts"))
                injected[point] += point != "none"
                start = len(d.events)
                if point == "before_turn":
                    killed_pids.append(kill(d, victim))
                d.ctl("ptt", action="press")
                if point == "during_asr":
                    time.sleep(0.2)
                    killed_pids.append(kill(d, "asr"))
                time.sleep(0.4)
                d.ctl("ptt", action="release")
                if point == "during_tts":
                    d.wait_state("speaking", start)
                    killed_pids.append(kill(d, "tts"))
                end = d.wait_event(lambda e: e["kind"] in ("timings", "error"), start=start, timeout=40)
                if d.events[end]["kind"] == "error":
                    lost[point] += 1
                    assert d.events[end]["code"] in ("engine_died", "engine_unavailable", "engine_protocol"), \
                        d.events[end]
                    assert d.events[end]["text"]
                d.wait_state("idle", start, timeout=40)
                if point != "none":
                    wait_ready(d, "asr", "tts")
                    check = d.turn()
                    d.turn_end(check, timeout=40)  # the turn after a restart succeeds
                    assert not any(e["kind"] == "error" for e in d.events[check:]), d.kinds(check)
            pids = [e["pid"] for e in d.status()["engines"].values()]
        assert wait_gone(pids + killed_pids) == []
        leftovers = [p for p in (tmp_path / "run" / "sisyphus").glob("*") if p.name != "daemon.lock"]
        assert leftovers == [], leftovers  # no leaked sockets
    finally:
        server.stop()
    print(f"\nfault injection over {TURNS} turns: injected {dict(injected)}; turns lost {dict(lost)}")
    assert sum(lost.values()) <= sum(injected.values())
    assert lost["none"] == 0 and lost["before_turn"] <= injected["before_turn"]
