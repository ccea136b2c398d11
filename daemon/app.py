"""The composition root: builds every part from the settings and wires them to the bus.

Threads: the core asyncio loop (assistant, supervisor, LLM, control socket) runs in
its own thread when a tray owns the main thread (pystray requires it on macOS);
headless, it runs on the main thread. Edge threads (hotkey listener, PortAudio
callbacks) only hand data to the core loop with ``call_soon_threadsafe``.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, paths, profiles
from .assistant import Assistant, TurnOptions
from .control import ControlServer
from .events import EventBus, State, StateChanged
from .instance import InstanceLock
from .settings import Settings
from .supervisor.supervisor import Supervisor

if TYPE_CHECKING:
    from .actions import CoreActions
    from .memory import MemoryManager

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    profile: str = ""          # overrides [daemon] profile
    headless: bool = False     # no tray, no hotkey listener: control socket only
    mic_file: Path | None = None
    speaker_file: Path | None = None
    audio: bool = True         # False: no audio devices at all (file mic/speaker or silence)


class App:
    def __init__(self, settings: Settings, config_path: Path, options: RunOptions) -> None:
        self.settings = settings
        self.config_path = config_path
        self.options = options
        self.bus = EventBus()
        self.started = time.monotonic()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._quit: asyncio.Event | None = None
        self.runtime_dir = paths.runtime_dir()
        self.lock = InstanceLock(self.runtime_dir)
        self.profile = ""
        self.supervisor: Supervisor | None = None
        self.assistant: Assistant | None = None
        self.actions: CoreActions | None = None  # once the core runs
        self.memory: MemoryManager | None = None  # the VRAM monitor, when the gpu profile runs
        self.devices: dict = {}  # "input"/"output" -> Capture/Playback

    # -- lifecycle ---------------------------------------------------------------------
    def run(self) -> int:
        """Block until quit. Raises AlreadyRunning when another daemon holds the lock."""
        self.lock.acquire()
        try:
            if self.options.headless:
                return asyncio.run(self.core())
            return self._run_with_tray()
        finally:
            self.lock.release()

    def _run_with_tray(self) -> int:
        from .wiring import run_tray

        result: list[int] = []
        core = threading.Thread(target=lambda: result.append(asyncio.run(self.core())), name="core", daemon=True)
        core.start()
        run_tray(self, core)
        core.join()
        return result[0] if result else 1

    def apply_settings(self, settings: Settings) -> None:
        """Apply a reloaded settings file to the running parts (engines keep running)."""
        from .wiring import build_llm

        old, self.settings = self.settings, settings
        assistant, _ = self.running()
        assistant.set_options(**turn_options(settings).__dict__)
        if settings.llm != old.llm:
            assistant.llm, history, _ = build_llm(settings)
            assistant.history.system_prompt = settings.llm.system_prompt
            assistant.history.max_turns = settings.llm.history_turns
        if self.actions is not None:
            self.actions.publish_settings()

    def running(self) -> tuple[Assistant, Supervisor]:
        """The parts core() builds first: everything that reaches them (control, tray, reload) starts later."""
        if self.assistant is None or self.supervisor is None:
            raise RuntimeError("sisyphus is still starting; try again in a moment")
        return self.assistant, self.supervisor

    def request_quit(self) -> None:
        if self.loop and self._quit:
            self.loop.call_soon_threadsafe(self._quit.set)

    async def core(self) -> int:
        self.loop = asyncio.get_running_loop()
        self._quit = asyncio.Event()
        self._install_signals()
        from .wiring import build_parts

        parts = await build_parts(self)
        _, supervisor = self.running()
        control = ControlServer(self.runtime_dir, self.control_handlers(), self.bus)
        await control.start()
        _LOG.info("sisyphus %s running (profile %s, pid %d)", __version__, self.profile, os.getpid())
        try:
            await self._quit.wait()
        finally:
            _LOG.info("shutting down")
            await control.stop()
            await parts.close()
            await supervisor.stop()
        return 0

    def _install_signals(self) -> None:
        assert self.loop is not None and self._quit is not None  # core() sets them first
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.loop.add_signal_handler(sig, self._quit.set)
            except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
                pass

    # -- the control socket ---------------------------------------------------------------
    def control_handlers(self) -> dict:
        assistant, supervisor = self.running()

        async def status(_req: dict) -> dict:
            return self.status()

        async def ptt(req: dict) -> dict:
            action = req.get("action")
            if action not in ("press", "release", "toggle"):
                raise ValueError("ptt needs action press, release or toggle")
            getattr(assistant, action)()
            return {"state": assistant.state.value}

        async def stop(_req: dict) -> dict:
            assistant.stop()
            return {"state": assistant.state.value}

        async def quit_(_req: dict) -> dict:
            self.request_quit()
            return {}

        async def restart(_req: dict) -> dict:
            supervisor.restart()
            return {}

        async def new_conversation(_req: dict) -> dict:
            assistant.history.reset()
            return {}

        async def record_voice(_req: dict) -> dict:
            if self.actions is not None:
                self.actions.record_voice()
            return {}

        return {"record-voice": record_voice, "status": status, "ptt": ptt, "stop": stop, "quit": quit_, "restart-engines": restart,
                "new-conversation": new_conversation}

    def status(self) -> dict:
        return {
            "version": __version__,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self.started, 1),
            "profile": self.profile,
            "config": str(self.config_path),
            "state": self.assistant.state.value if self.assistant else State.IDLE.value,
            "turn": self.assistant.turn if self.assistant else 0,
            "last_timings_ms": self.assistant.last_timings if self.assistant else {},
            "engines": self.supervisor.status() if self.supervisor else {},
            "vram": self.memory.status() if self.memory else {},
        }


def turn_options(settings: Settings) -> TurnOptions:
    return TurnOptions(mode=settings.hotkey.mode, min_press_ms=settings.audio.min_press_ms,
                       language=settings.asr.language, voice=settings.tts.voice)


def on_state(bus: EventBus, state: State, callback) -> None:
    bus.subscribe(lambda e: callback() if isinstance(e, StateChanged) and e.state == state else None)
