"""Run the daemon until quit: the instance lock, the core loop, the tray, the signals.

Threads: the core asyncio loop (assistant, supervisor, LLM, control socket) runs in
its own thread when a tray owns the main thread (pystray requires it on macOS);
headless, it runs on the main thread. Edge threads (hotkey listener, PortAudio
callbacks, tray clicks) only hand work to the core loop with ``call_soon_threadsafe``.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import threading
from pathlib import Path

from daemon import __version__, paths
from daemon.config.schema import Settings
from daemon.control import ControlServer
from daemon.errors import SisyphusError
from daemon.events import ErrorEvent, EventBus
from daemon.instance import InstanceLock

from .parts import Parts, RunOptions, build_parts

_LOG = logging.getLogger(__name__)


class Daemon:
    def __init__(self, settings: Settings, config_path: Path, options: RunOptions) -> None:
        self.settings = settings
        self.config_path = config_path
        self.options = options
        self.bus = EventBus()
        self.runtime_dir = paths.runtime_dir()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._quit: asyncio.Event | None = None
        self._parts: Parts | None = None  # while the core runs (tray clicks go to its commands)

    def run(self) -> int:
        """Block until quit. Raises AlreadyRunning when another daemon holds the lock, and
        whatever stopped the parts from being built."""
        lock = InstanceLock(self.runtime_dir)
        lock.acquire()
        try:
            if self.options.headless:
                return asyncio.run(self.core())
            return self._run_with_tray()
        finally:
            lock.release()

    def _run_with_tray(self) -> int:
        from .tray import run_tray

        result: list[int] = []
        failure: list[BaseException] = []

        def core() -> None:
            try:
                result.append(asyncio.run(self.core()))
            except BaseException as exc:  # handed to the main thread, which raises it
                failure.append(exc)

        thread = threading.Thread(target=core, name="core", daemon=True)  # run_tray starts it
        run_tray(self.settings.tray, self.bus, self.call, self.request_quit, thread)
        thread.join()
        if failure:
            raise failure[0]
        return result[0] if result else 1

    def call(self, method: str, *args) -> None:
        """Run a Commands method on the core loop, from any thread; coroutines become tasks."""
        loop, parts = self._loop, self._parts
        if loop is None or parts is None:
            _LOG.warning("%s before the daemon was ready; ignored", method)
            return

        def run() -> None:
            try:
                result = getattr(parts.commands, method)(*args)
            except (SisyphusError, ValueError) as exc:  # refused (e.g. a voice the engine lacks): shown
                self.bus.publish(ErrorEvent(getattr(exc, "code", "bad_request"), str(exc)))
                return
            if inspect.iscoroutine(result):
                parts.spawn(result, method)

        loop.call_soon_threadsafe(run)

    def request_quit(self) -> None:
        if self._loop and self._quit:
            self._loop.call_soon_threadsafe(self._quit.set)

    async def core(self) -> int:
        self._loop = loop = asyncio.get_running_loop()
        self._quit = quit = asyncio.Event()
        _install_signals(loop, quit)
        parts = await build_parts(self.settings, self.config_path, self.options, self.bus, self.runtime_dir,
                                  quit.set)
        control = ControlServer(self.runtime_dir, parts.control_handlers(), self.bus)
        try:
            await control.start()
            self._parts = parts
            _LOG.info("sisyphus %s running (profile %s, pid %d)", __version__, parts.profile, os.getpid())
            await quit.wait()
        finally:
            self._parts = None
            _LOG.info("shutting down")
            await control.stop()
            await parts.close()
        return 0



def _install_signals(loop: asyncio.AbstractEventLoop, quit: asyncio.Event) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, quit.set)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            pass
