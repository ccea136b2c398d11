"""The core-loop task that applies the VRAM policy and idle unloads to the supervisor."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Mapping, Protocol

from daemon.config.schema import VramSettings
from daemon.events import EngineState

from .monitor import Monitor, create_monitor
from .policy import EngineView, Reading, VramPolicy

_LOG = logging.getLogger(__name__)
LOADED = (EngineState.STARTING, EngineState.READY, EngineState.UNHEALTHY)


class Engine(Protocol):
    """One engine as the memory manager sees it (daemon/supervisor/supervisor.py EngineSupervisor)."""

    @property
    def state(self) -> EngineState: ...
    @property
    def busy(self) -> int: ...
    @property
    def last_used(self) -> float: ...
    @property
    def pid(self) -> int | None: ...
    async def unload(self, reason: str) -> None: ...
    def restart(self) -> None: ...


class Engines(Protocol):
    """The engines by name (daemon/supervisor/group.py Supervisor)."""

    @property
    def engines(self) -> Mapping[str, Engine]: ...
    def __getitem__(self, name: str) -> Engine: ...


class MemoryManager:
    """``idle_unload_min``: minutes by engine name; ``turn_state``: the turn's state now (which engine is
    needed next)."""

    def __init__(self, settings: VramSettings, idle_unload_min: Mapping[str, float], supervisor: Engines,
                 turn_state: Callable[[], str], monitor: Monitor | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.supervisor = supervisor
        self.idle_unload_min = dict(idle_unload_min)
        self.turn_state = turn_state
        self.monitor = monitor if monitor is not None else create_monitor(settings.enabled)
        self.policy = VramPolicy(settings.min_free_mb, settings.recover_free_mb)
        self.reading: Reading | None = None
        self.unloaded_for_vram: set[str] = set()
        self.clock = clock

    def views(self) -> list[EngineView]:
        return [EngineView(name, e.state in LOADED, e.busy > 0, e.last_used, name in self.unloaded_for_vram,
                           self.idle_unload_min.get(name, 0.0) * 60)
                for name, e in self.supervisor.engines.items()]

    async def step(self) -> None:
        self.reading = self.monitor.read() if self.monitor else None
        for action, name, reason in self.policy.decide(self.reading, self.turn_state(), self.views(), self.clock()):
            engine = self.supervisor[name]
            if action == "unload":
                _LOG.warning("unloading %s engine: %s", name, reason)
                if "GPU" in reason:
                    self.unloaded_for_vram.add(name)
                await engine.unload(reason)
            else:
                _LOG.info("reloading %s engine: %s", name, reason)
                self.unloaded_for_vram.discard(name)
                engine.restart()

    async def on_cuda_oom(self, name: str) -> None:
        """An engine answered cuda_oom: unload the other engine (if idle) so the retry fits."""
        for other, engine in self.supervisor.engines.items():
            if other != name and engine.state in LOADED and not engine.busy:
                _LOG.warning("%s engine ran out of GPU memory: unloading %s for the retry", name, other)
                self.unloaded_for_vram.add(other)
                await engine.unload(f"{name} engine ran out of GPU memory")
                return

    async def run(self, interval_s: float) -> None:
        while True:
            try:
                await self.step()
            except Exception:
                _LOG.exception("memory manager step failed")
            await asyncio.sleep(interval_s)

    def status(self) -> dict:
        if self.reading is None:
            return {"monitor": "off (no NVIDIA driver)" if self.monitor is None or not self.monitor.available
                    else "no reading"}
        pids = {e.pid: name for name, e in self.supervisor.engines.items() if e.pid}
        return {"total_mb": self.reading.total_mb, "free_mb": self.reading.free_mb,
                "engines_mb": {pids[p]: mb for p, mb in self.reading.per_pid_mb.items() if p in pids}}

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.close()
