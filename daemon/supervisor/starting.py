"""Starting one run of an engine: spawn its process (a local engine), then ask ``describe`` until it answers.

A local engine that is still loading its model has no socket yet, so "nobody answered"
is retried until the spec's ready timeout while the process lives. A remote engine
answers or it does not: a refused, reset or silent connection fails the attempt at once,
with its reason. An engine that cuts the connection inside ``describe`` (it died there,
or speaks garbage) fails the attempt at once too, explained by its exit when it exited.
"""
from __future__ import annotations

import asyncio

from wyoming.info import Info

from daemon.config.schema import SupervisorSettings
from daemon.errors import EngineRequestError, EngineUnavailable, EngineUnreachable, SisyphusError
from daemon.speech import clients
from engines.protocol.errors import EXIT_CONFIG

from .process import EngineProcess
from .spec import EngineSpec

EXIT_GRACE_S = 1.0  # a connection cut inside describe: how long its process may take to be seen exiting
POLL_S = 0.1  # between describes while a local engine loads


class StartFailed(Exception):
    def __init__(self, reason: str, fatal: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fatal = fatal


async def spawn(spec: EngineSpec) -> EngineProcess:
    """The started process; StartFailed (fatal: retrying cannot help) when its program cannot run."""
    process = EngineProcess(spec)
    try:
        await process.start()
    except FileNotFoundError as exc:
        raise StartFailed(_missing(spec, exc), fatal=True) from None
    except OSError as exc:
        raise StartFailed(f"cannot run {spec.argv[0]}: {exc}", fatal=True) from None
    return process


def _missing(spec: EngineSpec, exc: OSError) -> str:
    program = spec.argv[0]
    if spec.setup:  # one of our engines: its venv was never built, or was removed
        return f"its program {program} is missing (the engine venv is not set up): run `{spec.setup}`"
    return f"cannot run {program}: {exc.strerror or exc}; fix the engine's command in the settings"


async def check_alive(process: EngineProcess | None, grace: float = 0.0) -> None:
    """StartFailed with the exit's reason when the process has ended (or ends within ``grace`` s)."""
    if process is None or (not process.exited() and (not grace or await process.exit_code(grace) is None)):
        return
    code = await process.wait()
    raise StartFailed(process.failure_reason(code), fatal=code == EXIT_CONFIG)


async def describe_until_ready(spec: EngineSpec, settings: SupervisorSettings, process: EngineProcess | None,
                               clock) -> Info:
    """The engine's ``info`` once it answers; StartFailed when this attempt has failed.
    ``clock`` is the monotonic clock (the deadline is the spec's ready timeout)."""
    deadline = clock() + spec.ready_timeout_s
    timeout = settings.probe_timeout_s if spec.remote else min(2.0, settings.probe_timeout_s)
    while True:
        await check_alive(process)
        try:
            return await clients.describe(spec.name, spec.uri, timeout, spec.http)
        except EngineUnavailable as exc:  # nobody answered (a local engine may still be loading)
            if spec.remote:
                raise StartFailed(why(exc)) from None
            if clock() >= deadline:
                raise StartFailed(f"not ready within {spec.ready_timeout_s:.0f} s: {exc.text}") from None
        except EngineRequestError as exc:  # it answered garbage, or closed the connection inside describe
            await check_alive(process, grace=EXIT_GRACE_S)  # a process that died there: its exit says why
            raise StartFailed(f"describe failed: {exc.text}") from None
        await asyncio.sleep(POLL_S)


def why(exc: SisyphusError) -> str:
    """What status shows for a failed describe: an unreachable engine's reason, else the error's text."""
    return exc.reason if isinstance(exc, EngineUnreachable) else exc.text
