"""One supervised loop per engine: STOPPED → STARTING → READY ⇄ UNHEALTHY → BACKOFF → STARTING …

Readiness is a ``describe`` answered within the spec's timeout. A local engine is
watched through its process exit and a periodic probe; a remote engine through
the probe alone, and is reconnected (never respawned, never given up on): a refused
or reset connection is a failed attempt at once, with its reason. After too many
quick failures a local engine ends FAILED until ``restart()`` or ``respawn()``. An engine
that reports a configuration problem at start (exit 78) fails at once with its
reason instead of crash-looping. Every change is an EngineStateChanged on the bus.

The loop never dies (think systemd: a unit's failure is always visible and acted on):
any error while starting or watching an engine is logged with its name and is that
engine's failure (backoff, then a restart or a reconnect); an error outside a run is
logged and backed off the same way; and a supervise task that still ends other than
by ``stop()``/``respawn()`` is noticed by its done-callback and started again.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from wyoming.info import Info

from daemon.errors import EngineRequestError, EngineUnavailable, EngineUnreachable, SisyphusError
from daemon.events import EngineState as S
from daemon.events import EngineStateChanged, EventBus
from daemon.config.schema import SupervisorSettings

from daemon.speech import clients
from daemon.tasks import cancel_and_wait
from .policy import RestartPolicy
from .process import EngineProcess
from .spec import EngineSpec
from .starting import EXIT_GRACE_S, StartFailed, describe_until_ready, spawn, why
from .states import StateMachine

_LOG = logging.getLogger(__name__)


class _Down(Exception):
    """A READY engine stopped being usable; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
        self.last_error = ""  # why the last run failed; stays after the engine recovers (status)
        self.failures = 0  # runs that ended in a failure, ever; ready() waits on it
        self.process: EngineProcess | None = None
        self.last_used = time.monotonic()
        self._wake = asyncio.Event()
        self._probe_now = asyncio.Event()  # a request found the engine gone: probe before the interval ends
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
        self._spawn_task()

    def _spawn_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"supervise-{self.spec.name}")
            self._task.add_done_callback(self._on_task_end)

    def _on_task_end(self, task: asyncio.Task) -> None:
        """The watchdog: only stop() and respawn() end a supervise task (by cancelling it, after
        letting go of it); any other end is logged and answered with a new task."""
        if task is not self._task or task.cancelled():
            return
        error = task.exception()
        _LOG.error("engine %s: its supervise task ended (%r); starting a new one", self.spec.name,
                   error or "returned", exc_info=error)
        asyncio.get_running_loop().call_later(self.settings.backoff_initial_s, self._respawn_task, task)

    def _respawn_task(self, ended: asyncio.Task) -> None:
        if self._task is ended:  # not stopped or replaced meanwhile
            self._spawn_task()

    def restart(self) -> None:
        """Leave FAILED/UNLOADED/BACKOFF and start again now (tray: "Restart engines")."""
        self.policy.reset()
        self._want_running = True
        self._wake.set()
        self.start()

    async def respawn(self) -> None:
        """Start over now, even when healthy: stop the process (a local engine gets a new pid;
        a remote one is reconnected), forget past failures, start again (tray: "Restart engines")."""
        await self._end_task()
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
        await self._end_task()
        await self._stop_process()
        if self.state != S.STOPPED:
            await self._set(S.STOPPED)

    async def _end_task(self) -> None:
        task, self._task = self._task, None  # let go first: the watchdog leaves a task it no longer holds
        if task is not None:
            await cancel_and_wait(task)

    @contextlib.asynccontextmanager
    async def use(self, timeout: float):
        """``async with engine.use(t) as uri``: wait until READY, and count as busy meanwhile.
        A request that finds the engine gone (refused, reset, died) has it probed at once."""
        uri = await self.ready(timeout)
        self.busy += 1
        self._served = True
        try:
            yield uri
        except (EngineUnreachable, EngineRequestError) as exc:
            if isinstance(exc, EngineUnreachable) or exc.code == "engine_died":
                self._probe_now.set()
            raise
        finally:
            self.busy -= 1
            self.last_used = time.monotonic()

    async def ready(self, timeout: float) -> str:
        """Wait until READY and return the URI. Fail fast when FAILED, and as soon as an attempt
        to start it fails while we wait (with that failure's reason); reload when UNLOADED."""
        self.last_used = time.monotonic()
        if self.state == S.UNLOADED:
            self.restart()
        if self._failed():
            raise EngineUnavailable(f"{self.spec.name} engine failed: {self.reason}; restart it with "
                                    "`sisyphus restart-engines` (or 'Restart engines' in the tray)", "engine_failed")
        if self.state == S.BACKOFF and self.spec.remote:
            self._wake.set()  # a request is a reason to try a remote engine again now: connecting is cheap
        failures = self.failures
        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(
                    lambda: self.state == S.READY or self._failed() or self.failures > failures), timeout)
        except asyncio.TimeoutError:
            raise EngineUnavailable(f"{self.spec.name} engine is {self.state.value}"
                                    + (f" ({self.reason})" if self.reason else "") + "; try again shortly") from None
        if self.state == S.READY:
            return self.spec.uri
        if self._failed():
            raise EngineUnavailable(f"{self.spec.name} engine failed: {self.reason}", "engine_failed")
        raise EngineUnavailable(f"{self.spec.name} engine: {self.last_error}; retrying")

    async def refresh_info(self, timeout: float = 10.0) -> Info | None:
        """Ask the engine to describe itself again now (its voices changed); the answer is its ``info``."""
        self.info = await clients.describe(self.spec.name, self.spec.uri, timeout, self.spec.http)
        return self.info

    def _failed(self) -> bool:
        return self.state == S.FAILED and not self._want_running

    # -- the loop --------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self._cycle()
            except Exception as exc:  # a bug outside a run; CancelledError (stop, respawn) ends the loop
                _LOG.exception("engine %s: the supervisor failed; backing off", self.spec.name)
                await self._recover(f"supervisor error: {exc!r}")

    async def _cycle(self) -> None:
        """One run of the engine: start it, watch it, and after its end back off (or give up)."""
        if not self._want_running:
            await self._sleep_until_woken()
            return
        started = time.monotonic()
        self._served = False
        await self._set(S.STARTING)
        reason, fatal = await self._life()
        await self._stop_process()
        if self._want_running:
            await self._after_failure(reason, fatal, time.monotonic() - started)

    async def _life(self) -> tuple[str, bool]:
        """Start the engine and watch it: why it stopped being usable, and whether that is final.
        Whatever goes wrong in here is a failure of the engine, never the end of the loop."""
        try:
            await self._start_once()
            if not self._want_running:  # unloaded while it started
                return "unloaded", False
            await self._set(S.READY)
            return await self._watch(), False
        except StartFailed as exc:
            return exc.reason, exc.fatal
        except _Down as exc:
            return exc.reason, False
        except Exception as exc:
            _LOG.exception("engine %s: unexpected error while starting or watching it", self.spec.name)
            return f"unexpected error: {exc!r}", False

    async def _after_failure(self, reason: str, fatal: bool, run_s: float) -> None:
        self.last_error = reason
        self.failures += 1
        delay = None if fatal else self.policy.next_delay(run_s, self._served)
        if fatal:
            await self._fail(reason)
        elif delay is None:
            await self._fail(f"{reason} (gave up after {self.policy.failures} quick failures)")
        else:
            await self._set(S.BACKOFF, f"{reason}; retrying in {delay:.1f} s")
            await self._sleep_until_woken(delay)

    async def _recover(self, reason: str) -> None:
        """After an error outside a run: stop the process, show the failure, wait, try again."""
        delay = self.settings.backoff_max_s
        try:
            await self._stop_process()
            self.last_error = reason
            self.failures += 1
            if self.state == S.BACKOFF or self.machine.can(S.BACKOFF):
                await self._set(S.BACKOFF, f"{reason}; retrying in {delay:.1f} s")
        except Exception:
            _LOG.exception("engine %s: recovering from a supervisor error failed too", self.spec.name)
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
            self.process = await spawn(self.spec)
        self.info = await describe_until_ready(self.spec, self.settings, self.process, time.monotonic)

    async def _watch(self) -> str:
        """Return why a READY engine stopped being usable: its exit, or probes that failed."""
        misses = 0
        while self._want_running:
            code = await self._exit_code(self.settings.health_interval_s, self._probe_now)
            self._probe_now.clear()
            if code is None and self._want_running:
                misses = await self._probe(misses)
            elif code is not None:
                return self._exit_reason(code)
        return "stopped"

    async def _probe(self, misses: int) -> int:
        """One health probe; the misses in a row after it. _Down when the engine is gone: it died
        inside the probe, a remote one refused or reset the connection, or two probes in a row failed."""
        try:
            self.info = await clients.describe(self.spec.name, self.spec.uri, self.settings.probe_timeout_s,
                                              self.spec.http)
        except SisyphusError as exc:
            code = await self._exit_code(EXIT_GRACE_S) if self.process else None
            if code is not None:
                raise _Down(self._exit_reason(code)) from None
            if self.spec.remote and isinstance(exc, (EngineUnreachable, EngineRequestError)):
                raise _Down(f"health probe failed: {why(exc)}") from None  # refused or reset: the box is gone
            if self.busy:  # a busy engine may answer late (wyoming-piper blocks its loop while it speaks)
                return misses
            if misses >= 1:
                raise _Down(f"health probe failed: {why(exc)}") from None
            await self._set(S.UNHEALTHY, exc.text)
            return misses + 1
        if self.state == S.UNHEALTHY:
            await self._set(S.READY)
        return 0

    def _exit_reason(self, code: int) -> str:
        return self.process.failure_reason(code) if self.process else f"exited with status {code}"

    async def _exit_code(self, within: float, wake: asyncio.Event | None = None) -> int | None:
        """The local process's exit status if it ends within ``within`` s (or until ``wake``)."""
        if self.process is not None:
            return await self.process.exit_code(within, wake)
        if wake is None:
            await asyncio.sleep(within)
        else:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), within)
        return None

    async def _stop_process(self) -> None:
        if self.process is None:
            return
        try:
            await self.process.stop(self.settings.stop_timeout_s)
        except Exception:  # never keep a process that could not be stopped: it dies with the daemon
            _LOG.exception("engine %s: stopping pid %s failed", self.spec.name, self.process.pid)
        self.process = None
