"""Helpers to run fake engines and supervisors in tests (real subprocesses, real sockets)."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from daemon.events import EngineState, EngineStateChanged, EventBus
from daemon.config.schema import SupervisorSettings
from daemon.supervisor.spec import EngineSpec
from engines.protocol.transport import free_port  # noqa: F401  (the tests' free loopback port)

FAST = SupervisorSettings(backoff_initial_s=0.05, backoff_max_s=0.2, max_quick_failures=3, quick_failure_s=5.0,
                          stop_timeout_s=2.0, health_interval_s=0.3, probe_timeout_s=1.0)


def fake_argv(kind: str, uri: str, *extra: str) -> tuple[str, ...]:
    return (sys.executable, "-m", "engines.fake", kind, "--uri", uri, *extra)


def spec(name: str, kind: str, uri: str, *extra: str, timeout: float = 15.0) -> EngineSpec:
    return EngineSpec(name, uri, fake_argv(kind, uri, *extra), ready_timeout_s=timeout)


class StateLog:
    """Records every EngineStateChanged and lets a test wait for a state."""

    def __init__(self, bus: EventBus) -> None:
        self.events: list[EngineStateChanged] = []
        self._cond = asyncio.Condition()
        bus.subscribe(self._on)

    def _on(self, event) -> None:
        if isinstance(event, EngineStateChanged):
            self.events.append(event)
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    def states(self, name: str) -> list[EngineState]:
        return [e.state for e in self.events if e.name == name]

    async def wait_for(self, name: str, state: EngineState, count: int = 1, timeout: float = 20.0) -> None:
        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(lambda: self.states(name).count(state) >= count), timeout)


def unix_uri(tmp: Path, name: str) -> str:
    return f"unix://{tmp / (name + '.sock')}"
