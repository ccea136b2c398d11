"""Spawning and stopping engine processes so that they never outlive the daemon.

How a child is tied to the daemon and stopped is the OS's part (daemon/platform/process/):
Linux ``PR_SET_PDEATHSIG`` and a process group, macOS a process group, Windows a
kill-on-close job object; everywhere the engine's ``--parent-pid`` watch too.
Stop = the polite request (SIGTERM / CTRL_BREAK), wait with a timeout, then kill
(SIGKILL to the group / terminate the job). stderr is always drained into the log
(a full pipe would block the engine), and the last lines are kept to explain a failure.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os

from engines.protocol.errors import FATAL_PREFIX

from daemon.platform.process import Tie, new_tie

from .spec import EngineSpec


class EngineProcess:
    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec
        self.proc: asyncio.subprocess.Process | None = None
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self.fatal: dict | None = None
        self._drain: asyncio.Task | None = None
        self._tie: Tie = new_tie()
        self._log = logging.getLogger(f"engine.{spec.name}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self) -> None:
        env = {**os.environ, **self.spec.env, "PYTHONUNBUFFERED": "1"}
        self._tie.close()  # a previous run's job (Windows): ends anything it left behind
        self._tie = new_tie()
        self.proc = await asyncio.create_subprocess_exec(
            *self.spec.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=env, **self._tie.spawn_kwargs(),
        )
        self._tie.adopt(self.proc)
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

    async def exit_code(self, within: float, wake: asyncio.Event | None = None) -> int | None:
        """The exit status once the process has ended, waiting up to ``within`` seconds (or until
        ``wake`` is set); None while it still runs."""
        waiters = {asyncio.ensure_future(self.wait())}
        if wake is not None:
            waiters.add(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return await self.wait() if self.exited() else None

    async def stop(self, timeout: float) -> None:
        """Ask the process (group) to exit, wait up to ``timeout``, then kill it."""
        if self.proc is None or self.proc.returncode is not None:
            self._tie.close()
            return
        self._tie.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            self._log.warning("pid %d did not stop within %.1f s; killing it", self.proc.pid, timeout)
            self._tie.kill()
            await self.proc.wait()
        self._tie.close()
        if self._drain:
            self._drain.cancel()

    def failure_reason(self, code: int) -> str:
        if self.fatal:
            return str(self.fatal.get("text") or self.fatal)
        last = next((line for line in reversed(self.tail) if line.strip()), "")
        return f"exited with status {code}" + (f": {last}" if last else "")
