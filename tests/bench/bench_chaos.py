"""Benchmark (prints figures; not a test): chaos for the supervisor. Fake engines (real subprocesses
over real unix sockets) are SIGKILLed at random moments, and after each kill the bench waits for
the engine to be READY again with a new process and runs a turn (a transcription and a synthesis).

    .venv/bin/python tests/bench/bench_chaos.py [--kills 200] [--seed 1]

Moments: ``idle`` (a random time while READY), ``probe`` (inside a health probe), ``request``
(mid-transcription or mid-synthesis), ``starting`` (a random time after a respawn spawned it,
the readiness check included). Printed: turns answered after each restart, the time to recover
(kill to READY with a new pid), stuck states (no recovery within 30 s; must be 0) and orphans
(killed or stopped engine processes still alive at the end; must be 0).
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from daemon.config.schema import SupervisorSettings  # noqa: E402
from daemon.errors import SisyphusError  # noqa: E402
from daemon.events import EngineState as S  # noqa: E402
from daemon.events import EngineStateChanged, EventBus  # noqa: E402
from daemon.speech import clients  # noqa: E402
from daemon.supervisor import supervisor as supervisor_module  # noqa: E402
from daemon.supervisor.spec import EngineSpec  # noqa: E402
from daemon.supervisor.supervisor import EngineSupervisor  # noqa: E402
from tests.bench.stats import percentile  # noqa: E402
from tests.support.engines import fake_argv  # noqa: E402

MOMENTS = ("idle", "probe", "request", "starting")
RECOVER_S = 30.0  # no READY within this after a kill: a stuck state
SETTINGS = SupervisorSettings(backoff_initial_s=0.05, backoff_max_s=0.5, max_quick_failures=5, quick_failure_s=5.0,
                              stop_timeout_s=2.0, health_interval_s=0.2, probe_timeout_s=2.0)
SPEECH = b"\x00\x40" * 4000  # 0.25 s of a loud constant at 16 kHz


async def _one(item):
    yield item


class Chaos:
    def __init__(self, tmp: Path, rng: random.Random) -> None:
        self.rng = rng
        self.bus = EventBus()
        env = {"PYTHONPATH": str(REPO)}
        self.engines = {name: EngineSupervisor(EngineSpec(name, f"unix://{tmp / name}.sock",
                                                          fake_argv(name, f"unix://{tmp / name}.sock"), env=env,
                                                          ready_timeout_s=20), self.bus, SETTINGS)
                        for name in ("asr", "tts")}
        self.armed: dict[str, str] = {}  # engine -> moment whose kill fires at its next probe / spawn
        self.killed: dict[str, tuple[int, float] | None] = {}  # engine -> (pid, when) of its last kill
        self.kill_done = {name: asyncio.Event() for name in self.engines}
        self.pids: set[int] = set()
        self.cut_probes = 0
        self.changed = asyncio.Condition()
        self.bus.subscribe(self._on_event)
        self._hook()

    def _on_event(self, event) -> None:
        if isinstance(event, EngineStateChanged):
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    def _hook(self) -> None:
        """Kill inside a probe (the next describe of a READY engine) or soon after a spawn, when armed."""
        describe, spawn = clients.describe, supervisor_module.spawn

        async def probing(name: str, uri: str, timeout: float):
            engine = self.engines[name]
            if self.armed.get(name) != "probe" or engine.state != S.READY:
                return await describe(name, uri, timeout)
            del self.armed[name]
            asyncio.get_running_loop().call_later(self.rng.uniform(0, 0.003), self.kill, name)
            try:
                return await describe(name, uri, timeout)
            except SisyphusError:
                self.cut_probes += 1  # the kill landed inside the probe
                raise

        async def spawning(spec: EngineSpec):
            process = await spawn(spec)
            if self.armed.get(spec.name) == "starting":
                del self.armed[spec.name]
                asyncio.get_running_loop().call_later(self.rng.uniform(0, 0.8), self.kill, spec.name)
            return process

        clients.describe = probing  # type: ignore[assignment]
        supervisor_module.spawn = spawning  # type: ignore[assignment]

    def kill(self, name: str) -> None:
        pid = self.engines[name].pid
        self.killed[name] = None if pid is None else (pid, time.monotonic())
        if pid is not None:
            self.pids.add(pid)
            os.kill(pid, signal.SIGKILL)
        self.kill_done[name].set()

    async def ready_again(self, name: str, old_pid: int | None) -> bool:
        engine = self.engines[name]
        try:
            async with self.changed:
                await asyncio.wait_for(self.changed.wait_for(
                    lambda: engine.state == S.READY and engine.pid not in (None, old_pid)), RECOVER_S)
        except asyncio.TimeoutError:
            return False
        return True

    async def request(self, name: str) -> None:
        async with self.engines[name].use(10) as uri:
            if name == "asr":
                await clients.transcribe("asr", uri, _one(SPEECH))
            else:
                async for _ in clients.synthesize("tts", uri, _one("A sentence long enough to take a while.")):
                    pass

    async def turn(self) -> bool:
        try:
            await self.request("asr")
            await self.request("tts")
        except SisyphusError:
            return False
        return True

    async def one_kill(self, name: str, moment: str) -> tuple[bool, float, bool] | None:
        """(recovered, seconds to recover, turn answered after it); None when no process was there to kill."""
        engine = self.engines[name]
        self.kill_done[name].clear()
        if moment == "idle":
            asyncio.get_running_loop().call_later(self.rng.uniform(0, 0.3), self.kill, name)
        elif moment == "probe":
            self.armed[name] = "probe"
        elif moment == "request":
            request = asyncio.create_task(self.request(name))
            asyncio.get_running_loop().call_later(self.rng.uniform(0, 0.03), self.kill, name)
            await asyncio.gather(request, return_exceptions=True)
        else:
            self.armed[name] = "starting"
            await engine.respawn()
        await asyncio.wait_for(self.kill_done[name].wait(), RECOVER_S)
        killed = self.killed[name]
        if killed is None:
            return None
        if not await self.ready_again(name, killed[0]):
            print(f"  stuck: {name} after a {moment} kill: {engine.state.value} ({engine.reason})")
            engine.restart()
            await self.ready_again(name, None)
            return False, 0.0, False
        return True, time.monotonic() - killed[1], await self.turn()

    async def run(self, kills: int) -> dict:
        for engine in self.engines.values():
            engine.start()
        for name in self.engines:
            await self.ready_again(name, None)
        rows: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        times: dict[str, list[float]] = collections.defaultdict(list)
        done = 0
        while done < kills:
            name, moment = self.rng.choice(list(self.engines)), self.rng.choice(MOMENTS)
            outcome = await self.one_kill(name, moment)
            if outcome is None:
                continue
            recovered, took, answered = outcome
            done += 1
            rows[moment].update(kills=1, stuck=not recovered, answered=answered)
            if recovered:
                times[moment].append(took)
        self.pids.update(e.pid for e in self.engines.values() if e.pid)
        for engine in self.engines.values():
            await engine.stop()
        return {"rows": rows, "times": times, "orphans": [p for p in self.pids if _alive(p)],
                "cut_probes": self.cut_probes}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return True


def report(result: dict, kills: int, seconds: float) -> None:
    rows, times = result["rows"], result["times"]
    print(f"chaos: {kills} SIGKILLs of fake engines (asr, tts) at random moments, {seconds:.0f} s")
    print(f"{'moment':<10}{'kills':>7}{'answered':>10}{'stuck':>7}{'recover p50':>13}{'p90':>8}{'max':>8}  (ms)")
    for moment in (*MOMENTS, "all"):
        counts = sum(rows.values(), collections.Counter()) if moment == "all" else rows[moment]
        took = [t for ts in times.values() for t in ts] if moment == "all" else times[moment]
        if not counts["kills"]:
            continue
        figures = (f"{1000 * statistics.median(took):>13.0f}{1000 * percentile(took, 0.9):>8.0f}"
                   f"{1000 * max(took):>8.0f}") if took else f"{'-':>13}{'-':>8}{'-':>8}"
        print(f"{moment:<10}{counts['kills']:>7}{counts['answered']:>10}{counts['stuck']:>7}{figures}")
    stuck = sum(r["stuck"] for r in rows.values())
    print(f"probe kills that cut the probe itself (the engine died inside describe): {result['cut_probes']}")
    print(f"stuck states: {stuck} (must be 0); orphans: {len(result['orphans'])} (must be 0)"
          + (f": {result['orphans']}" if result["orphans"] else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(Chaos(Path(tmp), random.Random(args.seed)).run(args.kills))
    report(result, args.kills, time.monotonic() - started)
    rows = result["rows"]
    return 1 if result["orphans"] or sum(r["stuck"] for r in rows.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
