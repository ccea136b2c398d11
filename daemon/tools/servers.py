"""Every ``[[tools.mcp]]`` server, supervised like an engine: started with the daemon, watched,
restarted with backoff after a crash, FAILED after too many quick failures (until
``restart()``), every change a ToolServerChanged event and a line in ``status``.

One task per server owns its connection (the SDK wants it entered and left in one task): it
connects, lists the tools (READY), then checks every ``health_interval_s`` that the server still
lists them. A call that finds the connection closed wakes the task at once. A ``${VAR}`` the
environment lacks is a settings problem: FAILED at once with the reason, no crash loop.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any, Mapping

from daemon.config.schema import SupervisorSettings, ToolsSettings
from daemon.events import EventBus
from daemon.supervisor.policy import RestartPolicy

from daemon.config.mcp_servers import MissingVariable, ServerConfig
from .confirm import runs_without_asking
from .events import ToolServerChanged
from .session import CallResult, Connection, ServerGone, ToolError, ToolInfo, connect

_LOG = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class ToolServer:
    def __init__(self, config: ServerConfig, bus: EventBus, settings: ToolsSettings,
                 supervisor: SupervisorSettings, log_dir: Path | None = None) -> None:
        self.config, self.bus, self.settings = config, bus, settings
        self.policy = RestartPolicy(supervisor.backoff_initial_s, supervisor.backoff_max_s,
                                    supervisor.max_quick_failures, supervisor.quick_failure_s)
        self.state, self.reason, self.last_error = "stopped", "", ""
        self.tools: list[ToolInfo] = []
        self.allowed = set(settings.allow) | {f"{config.name}.{t}" for t in config.allow}
        self.log_path = log_dir / f"mcp-{config.name}.log" if log_dir else None
        self._conn: Connection | None = None
        self._down = asyncio.Event()
        self._down_reason = ""
        self._wake = asyncio.Event()
        self._served = False
        self._task: asyncio.Task | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"mcp-{self.name}")
            self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task) -> None:
        """Only stop() ends the supervise task; any other end is logged and answered with a new one."""
        if task is not self._task or task.cancelled():
            return
        _LOG.error("tool server %s: its supervise task ended (%r); starting a new one", self.name,
                   task.exception() or "returned", exc_info=task.exception())
        asyncio.get_running_loop().call_later(self.policy.initial_s, self.start)

    def restart(self) -> None:
        """Leave FAILED (or BACKOFF) and connect again now."""
        self.policy.reset()
        self._wake.set()
        self.start()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
                await asyncio.wait_for(task, STOP_TIMEOUT_S)
        self._set("stopped")

    async def call(self, name: str, arguments: Mapping[str, Any]) -> CallResult:
        """Call tool ``name``; ServerGone when the server is not up, ToolError when the call failed."""
        conn = self._conn
        if conn is None or self.state != "ready":
            why = f": {self.reason}" if self.reason else ""
            raise ServerGone(f"the {self.name} tool server is {self.state}{why}")
        try:
            return await conn.call(name, arguments)
        except ServerGone as exc:
            self._lost(exc.text)
            raise
        finally:
            self._served = True

    def status(self) -> dict:
        return {"state": self.state, "reason": self.reason, "transport": self.config.transport,
                "where": self.config.where, "last_error": self.last_error,
                "log": str(self.log_path) if self.log_path else "",
                "tools": [{"name": t.name, "title": t.title, "description": t.description,
                           "read_only": t.read_only, "auto": runs_without_asking(t, self.allowed)}
                          for t in self.tools]}

    # -- the supervise loop ---------------------------------------------------------
    def _set(self, state: str, reason: str = "") -> None:
        if (state, reason) == (self.state, self.reason):
            return
        self.state, self.reason = state, reason
        _LOG.info("tool server %s: %s%s", self.name, state, f" ({reason})" if reason else "")
        names = tuple(t.name for t in self.tools) if state == "ready" else ()
        self.bus.publish(ToolServerChanged(self.name, state, reason, names))

    def _lost(self, reason: str) -> None:
        self._down_reason = reason
        self._down.set()

    async def _run(self) -> None:
        while True:
            began = time.monotonic()
            self._served = False
            try:
                reason = await self._serve()
            except asyncio.CancelledError:
                raise
            except MissingVariable as exc:  # a settings problem: retrying cannot help
                self.last_error = str(exc)
                self._set("failed", str(exc))
                await self._wait_restart()
                continue
            except Exception as exc:  # anything the SDK raises is this server's failure
                reason = _why(exc) if self.state == "ready" else f"{self._verb()} failed: {_why(exc)}"
                _LOG.debug("tool server %s failed", self.name, exc_info=True)
            self.last_error = reason
            delay = self.policy.next_delay(time.monotonic() - began, self._served)
            if delay is None:
                self._set("failed", f"{reason}; gave up after {self.policy.max_quick_failures} quick failures "
                          f"(see {self.log_path or 'its output'}); `sisyphus tools restart` tries again")
                await self._wait_restart()
                continue
            self._set("backoff", f"{reason}; restarting in {delay:.1f} s")
            await asyncio.sleep(delay)

    async def _serve(self) -> str:
        self._set("starting")
        with self._errlog() as errlog:
            async with connect(self.config, errlog) as conn:
                self.tools = await conn.list_tools()
                self._down.clear()
                self._conn = conn
                try:
                    self._set("ready", f"{len(self.tools)} tools")
                    return await self._watch(conn)
                finally:
                    self._conn = None
                    self.tools = []

    async def _watch(self, conn: Connection) -> str:
        """Until the server is gone: the reason."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._down.wait(), self.settings.health_interval_s)
                return self._down_reason
            try:
                async with asyncio.timeout(PROBE_TIMEOUT_S):
                    tools = await conn.list_tools()
            except ServerGone as exc:
                return exc.text
            except (ToolError, TimeoutError) as exc:
                return f"it did not answer a health check ({_why(exc)})"
            if tools != self.tools:  # the server changed its tools
                self.tools, self.reason = tools, f"{len(tools)} tools"
                self.bus.publish(ToolServerChanged(self.name, "ready", self.reason, tuple(t.name for t in tools)))

    def _verb(self) -> str:
        return f"connecting to {self.config.url}" if self.config.url else f"starting {self.config.command[0]}"

    async def _wait_restart(self) -> None:
        self._wake.clear()
        await self._wake.wait()
        self.policy.reset()

    @contextlib.contextmanager
    def _errlog(self):
        """Where the server's stderr goes: its own file in the log dir (the SDK needs a real file)."""
        if self.log_path is None:
            yield None
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a", encoding="utf-8", errors="replace") as log:
            yield log


class ToolServers:
    """All MCP servers of the daemon, by name."""

    def __init__(self, configs: list[ServerConfig], bus: EventBus, settings: ToolsSettings,
                 supervisor: SupervisorSettings, log_dir: Path | None = None) -> None:
        self.settings = settings
        self.servers = {c.name: ToolServer(c, bus, settings, supervisor, log_dir) for c in configs}

    def start(self) -> None:
        for server in self.servers.values():
            server.start()

    def restart(self) -> list[str]:
        for server in self.servers.values():
            if server.state in ("failed", "backoff"):
                server.restart()
        return list(self.servers)

    async def stop(self) -> None:
        await asyncio.gather(*(server.stop() for server in self.servers.values()))

    def status(self) -> dict[str, dict]:
        return {name: server.status() for name, server in self.servers.items()}

    def ready_tools(self) -> list[ToolInfo]:
        return [tool for server in self.servers.values() if server.state == "ready" for tool in server.tools]

    def __getitem__(self, name: str) -> ToolServer:
        return self.servers[name]


def _why(exc: BaseException) -> str:
    if isinstance(exc, ToolError):
        return exc.text
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _why(exc.exceptions[0])
    if isinstance(exc, TimeoutError):
        return "it did not finish connecting in time"
    if isinstance(exc, FileNotFoundError):
        return f"cannot start it: {exc.strerror}: {exc.filename}"
    text = str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:199] + "…"


