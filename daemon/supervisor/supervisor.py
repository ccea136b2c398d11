"""One supervised loop per engine: STOPPED → STARTING → READY ⇄ UNHEALTHY → BACKOFF → STARTING …

Readiness is a ``describe`` answered within the spec's timeout. A local engine is
watched through its process exit and a periodic probe; a remote engine through
the probe alone, and is reconnected (never respawned, never given up on). After
too many quick failures a local engine ends FAILED until ``restart()`` or ``respawn()``. An engine
that reports a configuration problem at start (exit 78) fails at once with its
reason instead of crash-looping. Every change is an EngineStateChanged on the bus.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from wyoming.info import Info

from daemon.errors import EngineUnavailable
from daemon.events import EngineState as S
from daemon.events import EngineStateChanged, EventBus
from daemon.config.schema import SupervisorSettings
from engines.protocol.errors import EXIT_CONFIG

from daemon.speech import clients
from daemon.tasks import cancel_and_wait
from .policy import RestartPolicy
from .process import EngineProcess
from .spec import EngineSpec
from .states import StateMachine

_LOG = logging.getLogger(__name__)


class StartFailed(Exception):
    def __init__(self, reason: str, fatal: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fatal = fatal


class EngineSupervisor:
    def __init__(self, spec: EngineSpec, bus: EventBus, settings: SupervisorSettings) -> None:
        self.spec = spec
        self.bus = bus
        self.settings = settings
        self.machine = StateMachine(spec.name)
        self.policy = RestartPolicy(settings.backoff_initial_s, settings.backoff_max_s, settings.max_quick_failures,
                                    settings.quick_failure_s, give_up=not spec.remote)
        self.info: Info | None = None
        self.reason = ""
        self.process: EngineProcess | None = None
        self.last_used = time.monotonic()
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._want_running = True
        self._task: asyncio.Task | None = None
        self.busy = 0  # requests in flight: a busy engine may answer probes late
        self._served = False  # this run of the engine served a request

    @property
    def state(self) -> S:
        return self.machine.state

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and not self.process.exited() else None

    async def _set(self, state: S, reason: str = "") -> None:
        if state == self.machine.state and reason == self.reason:
            return
        self.machine.to(state)
        self.reason = reason
        _LOG.info("engine %s: %s%s", self.spec.name, state.value, f" ({reason})" if reason else "")
        self.bus.publish(EngineStateChanged(self.spec.name, state, reason))
        async with self._changed:
            self._changed.notify_all()

    # -- control ---------------------------------------------------------------
    def start(self) -> None:
        self._want_running = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"supervise-{self.spec.name}")

    def restart(self) -> None:
        """Leave FAILED/UNLOADED/BACKOFF and start again now (tray: "Restart engines")."""
        self.policy.reset()
        self._want_running = True
        self._wake.set()
        self.start()

    async def respawn(self) -> None:
        """Start over now, even when healthy: stop the process (a local engine gets a new pid;
        a remote one is reconnected), forget past failures, start again (tray: "Restart engines")."""
        if self._task is not None:
            await cancel_and_wait(self._task)
        await self._stop_process()
        if self.state in (S.READY, S.UNHEALTHY):
            await self._set(S.STOPPED, "restarting")
        self.policy.reset()
        self.start()

    async def unload(self, reason: str) -> None:
        """Stop the engine on purpose (VRAM, idle); ``ready()`` reloads it on demand."""
        self._want_running = False
        self._wake.set()
        await self._stop_process()
        if self.state not in (S.STOPPED, S.UNLOADED):
            await self._set(S.UNLOADED, reason)

    async def stop(self) -> None:
        self._want_running = False
        if self._task:
            await cancel_and_wait(self._task)
        await self._stop_process()
        if self.state != S.STOPPED:
            await self._set(S.STOPPED)

    @contextlib.asynccontextmanager
    async def use(self, timeout: float):
        """``async with engine.use(t) as uri``: wait until READY, and count as busy meanwhile."""
        uri = await self.ready(timeout)
        self.busy += 1
        self._served = True
        try:
            yield uri
        finally:
            self.busy -= 1
            self.last_used = time.monotonic()

    async def ready(self, timeout: float) -> str:
        """Wait until READY and return the URI; fail fast when FAILED, reload when UNLOADED."""
        self.last_used = time.monotonic()
        if self.state == S.UNLOADED:
            self.restart()
        if self._failed():
            raise EngineUnavailable(f"{self.spec.name} engine failed: {self.reason}; use 'Restart engines'",
                                    "engine_failed")
        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.state == S.READY or self._failed()),
                                       timeout)
        except asyncio.TimeoutError:
            raise EngineUnavailable(f"{self.spec.name} engine is {self.state.value}"
                                    + (f" ({self.reason})" if self.reason else "") + "; try again shortly") from None
        if self._failed():
            raise EngineUnavailable(f"{self.spec.name} engine failed: {self.reason}", "engine_failed")
        return self.spec.uri

    def _failed(self) -> bool:
        return self.state == S.FAILED and not self._want_running

    # -- the loop --------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            if not self._want_running:
                await self._sleep_until_woken()
                continue
            started = time.monotonic()
            self._served = False
            await self._set(S.STARTING)
            try:
                await self._start_once()
                await self._set(S.READY)
                reason = await self._watch()
            except StartFailed as exc:
                reason = exc.reason
                if exc.fatal:
                    await self._fail(reason)
                    continue
            await self._stop_process()
            if not self._want_running:
                continue
            delay = self.policy.next_delay(time.monotonic() - started, self._served)
            if delay is None:
                await self._fail(f"{reason} (gave up after {self.policy.failures} quick failures)")
                continue
            await self._set(S.BACKOFF, f"{reason}; retrying in {delay:.1f} s")
            await self._sleep_until_woken(delay)

    async def _fail(self, reason: str) -> None:
        self._want_running = False
        await self._set(S.FAILED, reason)
        await self._sleep_until_woken()

    async def _sleep_until_woken(self, delay: float | None = None) -> None:
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    async def _start_once(self) -> None:
        if not self.spec.remote:
            self.process = EngineProcess(self.spec)
            try:
                await self.process.start()
            except FileNotFoundError as exc:
                raise StartFailed(self._missing(exc), fatal=True) from None
            except OSError as exc:
                raise StartFailed(f"cannot run {self.spec.argv[0]}: {exc}", fatal=True) from None
        deadline = time.monotonic() + self.spec.ready_timeout_s
        while True:
            await self._check_alive()
            try:
                self.info = await clients.describe(self.spec.name, self.spec.uri, min(2.0, self.settings.probe_timeout_s))
                return
            except EngineUnavailable as exc:
                if time.monotonic() >= deadline:
                    raise StartFailed(f"not ready within {self.spec.ready_timeout_s:.0f} s: {exc.text}") from None
            await asyncio.sleep(0.1)

    def _missing(self, exc: OSError) -> str:
        program = self.spec.argv[0]
        if self.spec.setup:  # one of our engines: its venv was never built, or was removed
            return f"its program {program} is missing (the engine venv is not set up): run `{self.spec.setup}`"
        return f"cannot run {program}: {exc.strerror or exc}; fix the engine's command in the settings"

    async def _check_alive(self) -> None:
        if self.process is not None and self.process.exited():
            code = await self.process.wait()
            raise StartFailed(self.process.failure_reason(code), fatal=code == EXIT_CONFIG)

    async def _watch(self) -> str:
        """Return why a READY engine stopped being usable."""
        misses = 0
        process = self.process
        while True:
            exit_wait = asyncio.create_task(process.wait()) if process else None
            try:
                done = await self._wait_exit(exit_wait, self.settings.health_interval_s)
            finally:
                if exit_wait and not exit_wait.done():
                    exit_wait.cancel()
            if done is not None and process is not None:  # an exit code needs a process
                return process.failure_reason(done)
            try:
                self.info = await clients.describe(self.spec.name, self.spec.uri, self.settings.probe_timeout_s)
                misses = 0
                if self.state == S.UNHEALTHY:
                    await self._set(S.READY)
            except EngineUnavailable as exc:
                if self.busy:  # e.g. wyoming-piper blocks its loop while it synthesizes
                    continue
                misses += 1
                if misses >= 2:
                    return f"health probe failed: {exc.text}"
                await self._set(S.UNHEALTHY, exc.text)

    @staticmethod
    async def _wait_exit(exit_wait: asyncio.Task | None, interval: float) -> int | None:
        if exit_wait is None:
            await asyncio.sleep(interval)
            return None
        done, _ = await asyncio.wait({exit_wait}, timeout=interval)
        return exit_wait.result() if done else None

    async def _stop_process(self) -> None:
        if self.process is not None:
            await self.process.stop(self.settings.stop_timeout_s)
            self.process = None


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

    async def ready(self, name: str, timeout: float) -> str:
        if name not in self.engines:
            raise EngineUnavailable(f"no {name} engine is configured", "engine_missing")
        return await self.engines[name].ready(timeout)

    def status(self) -> dict[str, dict]:
        return {
            name: {"state": e.state.value, "reason": e.reason, "pid": e.pid, "uri": e.spec.uri,
                   "remote": e.spec.remote, "about": _about(e.info)}
            for name, e in self.engines.items()
        }


def _about(info: Info | None) -> str | None:
    """The engine's own one-line description from its last ``info`` (e.g. TTS path and GPU memory)."""
    programs = [p for kind in ("asr", "tts") for p in (getattr(info, kind, None) or [])] if info else []
    return programs[0].description if programs else None
