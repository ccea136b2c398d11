"""The composition root: build every part from its settings section and own their lifetimes.

``build_parts`` returns one ``Parts``; nothing else constructs or reaches into them. Each
part gets only what it needs (its settings section, the bus, the parts it calls). A
failure while building closes what was built and raises: the daemon then exits with the
error instead of running half-built. ``Parts.close`` ends everything in reverse order and
logs (never hides) what failed; background tasks are owned here and their failures logged.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Coroutine

from daemon import __version__, paths
from daemon.assistant.turn import Assistant
from daemon.assistant.voices import VoiceCloner
from daemon.audio.errors import with_fix
from daemon.commands.actions import Commands
from daemon.commands.table import COMMANDS, Command, arguments
from daemon.config.live import LiveSettings
from daemon.config.reload import ConfigWatcher
from daemon.config.schema import Settings
from daemon.events import AudioLevel, ErrorEvent, EventBus, State, StateChanged
from daemon.llm import backend as llm_backend
from daemon.llm.probe import check_llm
from daemon.supervisor import profiles
from daemon.supervisor.group import Supervisor
from daemon.vram.manager import MemoryManager

from .live import apply_settings, build_llm, turn_options

_LOG = logging.getLogger(__name__)



class StartError(Exception):
    """A part could not be built; the message says which and what to do."""


@dataclass(frozen=True)
class RunOptions:
    profile: str = ""          # overrides [daemon] profile
    headless: bool = False     # no tray, no hotkey listener: control socket only
    mic_file: Path | None = None
    speaker_file: Path | None = None
    audio: bool = True         # False: no audio devices at all (file mic/speaker or silence)


@dataclass
class Parts:
    bus: EventBus
    live: LiveSettings
    profile: str = ""
    supervisor: Supervisor | None = None
    assistant: Assistant | None = None
    memory: MemoryManager | None = None
    commands: Commands | None = None
    tools: Any = None  # daemon.tools.Tools when [[tools.mcp]] names servers
    devices: dict = field(default_factory=dict)  # "input"/"output" -> the open Capture/Playback
    audio: dict = field(default_factory=dict)  # "input"/"output" -> what it is when no device: a file, off
    audio_problems: dict = field(default_factory=dict)  # "input"/"output" -> why its device did not open
    last_error: dict | None = None  # the last ErrorEvent: what failed, in which turn
    llm_choice: llm_backend.Choice | None = None  # which LLM the turns use (daemon/llm/backend.py)
    started: float = field(default_factory=time.monotonic)
    _closers: list[tuple[str, Callable[[], Any]]] = field(default_factory=list)
    _tasks: set[asyncio.Task] = field(default_factory=set)

    def on_close(self, name: str, closer: Callable[[], Any]) -> None:
        self._closers.append((name, closer))

    def spawn(self, coro: Coroutine, name: str) -> asyncio.Task:
        """A background task owned by the parts: cancelled at close, its failure logged."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOG.error("task %s failed", task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        while self._closers:
            name, closer = self._closers.pop()
            try:
                result = closer()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                _LOG.exception("closing %s failed", name)

    def control_handlers(self) -> dict:
        if self.commands is None:
            raise RuntimeError("the control socket needs the commands: build the parts first")
        return {command.name: functools.partial(run_command, self.commands, command) for command in COMMANDS}

    def status(self) -> dict:
        assistant = self.assistant
        return {
            "version": __version__,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self.started, 1),
            "profile": self.profile,
            "config": str(self.live.path),
            "state": assistant.state.value if assistant else State.IDLE.value,
            "turn": assistant.turn if assistant else 0,
            "last_timings_ms": assistant.last_timings if assistant else {},
            "engines": self.supervisor.status() if self.supervisor else {},
            "vram": self.memory.status() if self.memory else {},
            "audio": {kind: self.audio_problem(kind) or self._audio_in_use(kind) for kind in ("input", "output")},
            "last_error": self.last_error,
            "llm": self.llm_choice.status() if self.llm_choice else {},
            **({"tools": self.tools.servers.status()} if self.tools else {}),  # MCP servers, when set
        }

    def audio_problem(self, kind: str) -> str:
        """Why there is no microphone ("input") or speaker ("output"), with the fix; '' when there is one."""
        device = self.devices.get(kind)
        if kind not in self.audio_problems or (device is not None and device.is_open):
            return ""
        return f"no {'microphone' if kind == 'input' else 'speaker'}: {self.audio_problems[kind]}"

    def _audio_in_use(self, kind: str) -> str:
        device = self.devices.get(kind)
        if device is not None and device.device is not None:
            return device.device.label
        return self.audio.get(kind, "off")

    def remember_error(self, event) -> None:
        if isinstance(event, ErrorEvent):
            self.last_error = {"code": event.code, "text": event.text, "turn": event.turn,
                               "at": time.strftime("%H:%M:%S")}


async def run_command(commands: Commands, command: Command, request: dict) -> dict:
    result = getattr(commands, command.method)(**arguments(command, request))
    if inspect.isawaitable(result):
        result = await result
    return result or {}


async def build_parts(settings: Settings, config_path: Path, options: RunOptions, bus: EventBus,
                      runtime_dir: Path, quit: Callable[[], None]) -> Parts:
    parts = Parts(bus, LiveSettings(config_path, settings, bus))
    try:
        await _build(parts, settings, options, runtime_dir, quit)
    except BaseException:
        await parts.close()
        raise
    return parts


async def _build(parts: Parts, settings: Settings, options: RunOptions, runtime_dir: Path, quit) -> None:
    bus, data_dir = parts.bus, paths.data_dir()
    bus.subscribe(parts.remember_error)
    parts.profile = profiles.resolve(options.profile or settings.daemon.profile, data_dir)
    specs = profiles.specs(settings, parts.profile, runtime_dir, data_dir)
    try:
        parts.llm_choice = choice = await llm_backend.choose(settings.llm, runtime_dir, data_dir)
    except llm_backend.embedded.ModelError as exc:
        raise StartError(str(exc)) from exc
    parts.supervisor = supervisor = Supervisor({**specs, **choice.specs}, bus, settings.supervisor)
    parts.on_close("engines", supervisor.stop)
    llm, history, chunker = build_llm(settings, choice, supervisor)
    parts.on_close("llm client", lambda: (parts.assistant.llm if parts.assistant else llm).aclose())
    turn_callbacks: dict[str, Callable] = {}
    speaker = await _speaker(parts, settings, options, turn_callbacks)
    parts.assistant = assistant = Assistant(bus, supervisor, llm, history, chunker, speaker, turn_options(settings))
    assistant.audio_problem = lambda: parts.audio_problem("input") or parts.audio_problem("output")
    turn_callbacks.update(start=assistant.on_playback_start, end=assistant.on_playback_end)
    await _microphone(parts, settings, options, assistant)
    await _hotkey(parts, settings, options, assistant)
    parts.memory = memory = MemoryManager(settings.vram, {"asr": settings.asr.idle_unload_min,
                                                         "tts": settings.tts.idle_unload_min,
                                                         "llm": settings.llm.embedded_idle_unload_min},
                                          supervisor, lambda: assistant.state.value)
    parts.on_close("vram monitor", memory.close)
    assistant.on_cuda_oom = memory.on_cuda_oom
    _commands(parts, quit)
    _tools(parts, settings)
    supervisor.start()
    llm_backend.announce(choice, bus)
    if choice.backend == "external":
        parts.spawn(check_llm(settings.llm, bus), "llm-check")  # in the background: readiness never waits for it
    parts.spawn(ConfigWatcher(parts.live.path, functools.partial(_reload, parts)).run(), "config-watcher")
    parts.spawn(memory.run(settings.vram.poll_s), "memory")


def _tools(parts: Parts, settings: Settings) -> None:
    if not settings.tools.mcp:  # no MCP servers: nothing of daemon/tools (nor mcp) is loaded
        return
    from daemon.tools import build_tools

    parts.tools = tools = build_tools(settings, parts.bus, paths.log_dir())
    if tools is not None and parts.assistant is not None and parts.commands is not None:
        parts.assistant.tools, parts.commands.tools = tools.turns, tools.servers
        parts.on_close("tool servers", tools.servers.stop)
        tools.servers.start()
    if settings.tools.cue == "earcon" and parts.devices.get("output") is not None:
        from daemon.tools.cue import earcon_cue

        earcon_cue(parts.bus, parts.devices["output"])


def _reload(parts: Parts) -> None:
    """The settings file changed: apply what can change live, then show the new values."""
    changed = parts.live.reload()
    if changed is not None and parts.commands is not None:
        apply_settings(parts, *changed)
        parts.commands.publish_settings()


def _commands(parts: Parts, quit: Callable[[], None]) -> None:
    # The cloner refreshes the voice list and selects a new voice through the commands it serves.
    cloner = VoiceCloner(parts.bus, parts.assistant, parts.supervisor, lambda: commands.refresh_voices(),
                         lambda name: commands.set_voice(name))
    commands = Commands(parts.live, parts.bus, parts.assistant, parts.supervisor, cloner, parts.devices, quit,
                        parts.status)
    parts.commands = commands
    parts.bus.subscribe(commands.on_event)
    commands.publish_settings()


async def _speaker(parts: Parts, settings: Settings, options: RunOptions, callbacks: dict):
    from daemon.audio.files import FileSpeaker, check_speaker_file

    def on_start(gen: int) -> None:
        callbacks["start"](gen)

    def on_end(gen: int, *_interrupted: bool) -> None:  # Playback also passes `interrupted`
        callbacks["end"](gen)

    if options.speaker_file or not options.audio:
        parts.audio["output"] = f"file {options.speaker_file}" if options.speaker_file else "off (--no-audio)"
        if options.speaker_file:
            try:
                check_speaker_file(options.speaker_file)
            except ValueError as exc:  # names the file, its folder and what to do
                raise StartError(str(exc)) from exc
        speaker = FileSpeaker(on_start, on_end, options.speaker_file,
                              lambda exc: parts.bus.publish(ErrorEvent("audio_device", str(exc), turn=_turn(parts))))
        parts.on_close("speaker file", speaker.close)
        return speaker
    from daemon.audio.playback import Playback
    from daemon.audio.reconnect import DeviceKeeper, earcons

    keeper = DeviceKeeper(parts.bus, "output")
    playback = Playback(settings.audio.output_device, on_start, on_end, keeper.on_error)
    try:
        await playback.start()
    except Exception as exc:  # kept, closed: `sisyphus set-output-device NAME` opens it again
        _audio_error(parts, "output", exc)
    keeper.device = playback
    parts.on_close("keep output", keeper.close)
    parts.on_close("playback", playback.stop)
    parts.devices["output"] = playback
    if settings.audio.earcons:
        earcons(parts.bus, playback)
    return playback


async def _microphone(parts: Parts, settings: Settings, options: RunOptions, assistant: Assistant) -> None:
    bus = parts.bus
    if options.mic_file or not options.audio:
        parts.audio["input"] = f"file {options.mic_file}" if options.mic_file else "off (--no-audio)"
    if options.mic_file:
        from daemon.audio.files import FileMic

        try:
            mic = FileMic(options.mic_file, assistant.on_audio)
        except ValueError as exc:  # names the file and how to convert it
            raise StartError(str(exc)) from exc
        parts.on_close("mic file", mic.close)
        bus.subscribe(lambda e: mic.start_turn() if _is_state(e, State.LISTENING) else None)
        return
    if not options.audio:
        return
    from daemon.audio.capture import Capture
    from daemon.audio.reconnect import DeviceKeeper

    keeper = DeviceKeeper(bus, "input")
    capture = Capture(settings.audio.input_device, assistant.on_audio,
                      lambda level: bus.publish(AudioLevel(level)), keeper.on_error,
                      preroll=settings.audio.preroll_ms / 1000)
    keeper.device = capture
    try:
        await capture.start()
    except Exception as exc:  # kept, closed: `sisyphus set-input-device NAME` opens it again
        _audio_error(parts, "input", exc)
    parts.on_close("keep input", keeper.close)
    parts.on_close("capture", capture.stop)
    parts.devices["input"] = capture

    def follow(event) -> None:
        if isinstance(event, StateChanged) and not parts.audio_problem("input"):  # else the turn says why
            parts.spawn(capture.begin() if event.state == State.LISTENING else capture.end(), "capture-edge")

    bus.subscribe(follow)


async def _hotkey(parts: Parts, settings: Settings, options: RunOptions, assistant: Assistant) -> None:
    from daemon.platform.hotkey import create_hotkey

    backend = "dummy" if options.headless else settings.hotkey.backend
    hotkey = create_hotkey(backend, settings.hotkey.chord)
    await hotkey.start(assistant.press, assistant.release)
    parts.on_close("hotkey", hotkey.stop)


def _turn(parts: Parts) -> int:
    return parts.assistant.turn if parts.assistant else 0


def _is_state(event, state: State) -> bool:
    return isinstance(event, StateChanged) and event.state == state


def _audio_error(parts: Parts, kind: str, exc: Exception) -> None:
    text = with_fix(str(exc), kind)
    _LOG.error("%s device problem: %s", kind, text)
    parts.audio_problems[kind] = text
    parts.bus.publish(ErrorEvent("audio_device", text))
