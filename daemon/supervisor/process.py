"""Spawning and stopping engine processes so that they never outlive the daemon.

Linux: ``PR_SET_PDEATHSIG`` makes the kernel SIGKILL the child when the daemon
dies, even by SIGKILL; each engine leads its own process group, so stop reaches
its children too. Stop = SIGTERM, wait with a timeout, SIGKILL. stderr is always
drained into the log (a full pipe would block the engine), and the last lines are
kept to explain a failure.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import sys

from engines.protocol.errors import FATAL_PREFIX

from .spec import EngineSpec

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class EngineProcess:
    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        self.proc: asyncio.subprocess.Process | None = None
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self.fatal: dict | None = None
        self._drain: asyncio.Task | None = None
        self._log = logging.getLogger(f"engine.{spec.name}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self) -> None:
        env = {**os.environ, **self.spec.env, "PYTHONUNBUFFERED": "1"}
        kwargs: dict = {}
        if sys.platform.startswith("linux"):
            kwargs = {"preexec_fn": _die_with_parent, "start_new_session": True}
        elif os.name == "posix":
            kwargs = {"start_new_session": True}
        self.proc = await asyncio.create_subprocess_exec(
            *self.spec.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=env, **kwargs,
        )
        self._log.info("started pid %d: %s", self.proc.pid, " ".join(self.spec.argv))
        self._drain = asyncio.create_task(self._drain_stderr())

    async def _drain_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        while line := await self.proc.stderr.readline():
            text = line.decode("utf-8", "replace").rstrip()
            self.tail.append(text)
            if text.startswith(FATAL_PREFIX):
                with contextlib.suppress(ValueError):
                    self.fatal = json.loads(text[len(FATAL_PREFIX):])
            self._log.info("%s", text)

    async def wait(self) -> int:
        assert self.proc
        code = await self.proc.wait()
        if self._drain:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._drain), 2.0)
        return code

    def exited(self) -> bool:
        return self.proc is None or self.proc.returncode is not None

    async def stop(self, timeout: float) -> None:
        """SIGTERM the process group, wait up to ``timeout``, then SIGKILL it."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            self._log.warning("pid %d ignored SIGTERM for %.1f s; killing it", self.proc.pid, timeout)
            self._signal(signal.SIGKILL)
            await self.proc.wait()
        if self._drain:
            self._drain.cancel()

    def _signal(self, sig: int) -> None:
        assert self.proc
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.name == "posix":
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.kill() if sig == getattr(signal, "SIGKILL", None) else self.proc.terminate()

    def failure_reason(self, code: int) -> str:
        if self.fatal:
            return str(self.fatal.get("text") or self.fatal)
        last = next((line for line in reversed(self.tail) if line.strip()), "")
        return f"exited with status {code}" + (f": {last}" if last else "")
