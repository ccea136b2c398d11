"""All engines of the daemon, by name: started, respawned and stopped together; their status."""
from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

from wyoming.info import Info

from daemon.config.schema import SupervisorSettings
from daemon.errors import EngineUnavailable
from daemon.events import EventBus

from .spec import EngineSpec
from .supervisor import EngineSupervisor


class Supervisor:
    """All engines of the daemon, by name."""

    def __init__(self, specs: dict[str, EngineSpec], bus: EventBus, settings: SupervisorSettings) -> None:
        self.engines = {name: EngineSupervisor(spec, bus, settings) for name, spec in specs.items()}

    def start(self) -> None:
        for engine in self.engines.values():
            engine.start()

    async def respawn(self) -> list[str]:
        """Restart every engine (healthy ones too); the names restarted."""
        await asyncio.gather(*(engine.respawn() for engine in self.engines.values()))
        return list(self.engines)

    async def stop(self) -> None:
        await asyncio.gather(*(engine.stop() for engine in self.engines.values()))

    def __getitem__(self, name: str) -> EngineSupervisor:
        return self.engines[name]

    # -- the face the turn, the voice cloner and the commands see (daemon/assistant/faces.py Engines) --
    def use(self, name: str, timeout: float) -> AbstractAsyncContextManager[str]:
        """``async with engines.use(name, t) as uri``: wait until ``name`` is READY, busy meanwhile."""
        return self.engines[name].use(timeout)

    def spec(self, name: str) -> EngineSpec:
        return self.engines[name].spec

    def info(self, name: str) -> Info | None:
        """What the engine said about itself when it was last asked; None before it first answered."""
        return self.engines[name].info

    async def refresh_info(self, name: str) -> Info | None:
        """Ask the engine to describe itself again now (after its voices changed)."""
        return await self.engines[name].refresh_info()

    async def ready(self, name: str, timeout: float) -> str:
        if name not in self.engines:
            raise EngineUnavailable(f"no {name} engine is configured", "engine_missing")
        return await self.engines[name].ready(timeout)

    def status(self) -> dict[str, dict]:
        return {
            name: {"state": e.state.value, "reason": e.reason, "pid": e.pid, "uri": e.spec.uri,
                   "remote": e.spec.remote, "about": _about(e.info), "last_error": e.last_error}
            for name, e in self.engines.items()
        }


def _about(info: Info | None) -> str | None:
    """The engine's own one-line description from its last ``info`` (e.g. TTS path and GPU memory)."""
    programs = [p for kind in ("asr", "tts", "handle") for p in (getattr(info, kind, None) or [])] if info else []
    return programs[0].description if programs else None
