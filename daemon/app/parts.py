"""The composition root: build every part from its settings section and own their lifetimes.

``build_parts`` returns one frozen ``Parts``; nothing else constructs or reaches into them. It
builds each part after the parts it calls, so every part is whole when it is handed on; each gets
only what it needs (its settings section, the bus, the parts it calls, as the faces in
daemon/assistant/faces.py). What goes the other way rides the bus (the turn's state and number:
``TurnWatch``) or a relay (the speaker's playback edges to the assistant). A failure while
building closes what was built and raises: the daemon then exits with the error instead of
running half-built. ``Parts.close`` ends everything in reverse order and logs (never hides) what
failed; background tasks are owned here (daemon/app/lifetime.py) and their failures logged.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Coroutine

from daemon import paths
from daemon.assistant.faces import Llm, PlaybackEdges, Speaker
from daemon.assistant.turn import Assistant
from daemon.audio.microphone import Microphone
from daemon.commands.actions import Commands
from daemon.commands.audio import AudioDevices
from daemon.commands.table import COMMANDS, Command, arguments
from daemon.config.live import LiveSettings
from daemon.config.reload import ConfigWatcher
from daemon.config.schema import Settings
from daemon.events import AudioLevel, ErrorEvent, Event, EventBus, State, StateChanged
from daemon.llm import backend as llm_backend
from daemon.llm.probe import check_llm
from daemon.supervisor import profiles
from daemon.supervisor.group import Supervisor
from daemon.vram.manager import MemoryManager

from .lifetime import Lifetime
from .live import apply_settings, build_llm, turn_options
from .status import LastError, Status

if TYPE_CHECKING:  # daemon/tools (and mcp) load only when [[tools.mcp]] names servers
    from daemon.tools import Tools

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


class TurnWatch:
    """The turn as the bus tells it: its state (for the memory policy) and its number (for errors)."""

    def __init__(self, bus: EventBus) -> None:
        self.state, self.number = State.IDLE, 0
        bus.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            self.state, self.number = event.state, event.turn

    def state_value(self) -> str:
        return self.state.value


@dataclass(frozen=True)
class Parts:
    bus: EventBus
    live: LiveSettings
    profile: str
    llm_choice: llm_backend.Choice  # which LLM the turns use (daemon/llm/backend.py)
    supervisor: Supervisor
    audio: AudioDevices  # the microphone and speaker devices, or what stands in for them
    memory: MemoryManager
    assistant: Assistant
    commands: Commands
    tools: Tools | None  # the MCP servers, when [[tools.mcp]] names any
    status: Status
    lifetime: Lifetime

    def spawn(self, coro: Coroutine, name: str) -> asyncio.Task:
        return self.lifetime.spawn(coro, name)

    async def close(self) -> None:
        await self.lifetime.close()

    def llm_client(self, settings: Settings) -> Llm:
        """The turns' LLM client for these settings (a reload that changed [llm] builds a new one)."""
        client: Llm = build_llm(settings, self.llm_choice, self.supervisor)[0]
        return client

    def control_handlers(self) -> dict:
        return {command.name: functools.partial(run_command, self.commands, command) for command in COMMANDS}


async def run_command(commands: Commands, command: Command, request: dict) -> dict:
    result = getattr(commands, command.method)(**arguments(command, request))
    if inspect.isawaitable(result):
        result = await result
    return result or {}


async def build_parts(settings: Settings, config_path: Path, options: RunOptions, bus: EventBus,
                      runtime_dir: Path, quit: Callable[[], None]) -> Parts:
    lifetime, started = Lifetime(), time.monotonic()
    try:
        return await _build(lifetime, LiveSettings(config_path, settings, bus), settings, options, runtime_dir, quit,
                            started)
    except BaseException:
        await lifetime.close()
        raise


async def _build(lifetime: Lifetime, live: LiveSettings, settings: Settings, options: RunOptions,
                 runtime_dir: Path, quit: Callable[[], None], started: float) -> Parts:
    """The recipe: each part built after the parts it calls; the turn's edges reach others on the bus."""
    bus, data_dir = live.bus, paths.data_dir()
    last_error = LastError()
    bus.subscribe(last_error.remember)
    turn = TurnWatch(bus)
    profile = profiles.resolve(options.profile or settings.daemon.profile, data_dir)
    specs = profiles.specs(settings, profile, runtime_dir, data_dir)
    try:
        choice = await llm_backend.choose(settings.llm, runtime_dir, data_dir)
    except llm_backend.embedded.ModelError as exc:
        raise StartError(str(exc)) from exc
    supervisor = Supervisor({**specs, **choice.specs}, bus, settings.supervisor)
    lifetime.on_close("engines", supervisor.stop)
    audio = AudioDevices(bus)
    playback = PlaybackEdges()
    speaker = await _speaker(lifetime, audio, settings, options, playback, turn)
    microphone = Microphone(lifetime.spawn, lambda: not audio.problem("input"))
    await _microphone(lifetime, audio, settings, options, microphone)
    memory = MemoryManager(settings.vram, {"asr": settings.asr.idle_unload_min, "tts": settings.tts.idle_unload_min,
                                           "llm": settings.llm.embedded_idle_unload_min},
                           supervisor, turn.state_value)
    lifetime.on_close("vram monitor", memory.close)
    tools = _tools(settings, bus)
    llm, history, chunker = build_llm(settings, choice, supervisor)
    assistant = Assistant(bus, supervisor, llm, history, chunker, speaker, microphone, turn_options(settings),
                          playback=playback, tools=tools.turns if tools else None, on_cuda_oom=memory.on_cuda_oom,
                          audio_problem=audio.any_problem)
    lifetime.on_close("llm client", assistant.close)
    await _hotkey(lifetime, settings, options, assistant)
    status = Status(profile, live.path, assistant, supervisor, memory, audio, last_error, choice, tools, started)
    commands = Commands(live, bus, assistant, supervisor, audio, quit, status,
                        tools=tools.servers if tools else None)
    bus.subscribe(commands.on_event)
    commands.publish_settings()
    _start_tools(lifetime, settings, bus, tools, audio)
    supervisor.start()
    llm_backend.announce(choice, bus)
    parts = Parts(bus, live, profile, choice, supervisor, audio, memory, assistant, commands, tools, status, lifetime)
    if choice.backend == "external":
        parts.spawn(check_llm(settings.llm, bus), "llm-check")  # in the background: readiness never waits for it
    parts.spawn(ConfigWatcher(live.path, functools.partial(_reload, parts)).run(), "config-watcher")
    parts.spawn(memory.run(settings.vram.poll_s), "memory")
    return parts


def _tools(settings: Settings, bus: EventBus) -> Tools | None:
    if not settings.tools.mcp:  # no MCP servers: nothing of daemon/tools (nor mcp) is loaded
        return None
    from daemon.tools import build_tools

    return build_tools(settings, bus, paths.log_dir())


def _start_tools(lifetime: Lifetime, settings: Settings, bus: EventBus, tools: Tools | None,
                 audio: AudioDevices) -> None:
    if not settings.tools.mcp:
        return
    if tools is not None:
        lifetime.on_close("tool servers", tools.servers.stop)
        tools.servers.start()
    output = audio.open.get("output")
    if settings.tools.cue == "earcon" and output is not None:
        from daemon.tools.cue import earcon_cue

        earcon_cue(bus, output)


def _reload(parts: Parts) -> None:
    """The settings file changed: apply what can change live, then show the new values."""
    changed = parts.live.reload()
    if changed is not None:
        apply_settings(parts, *changed)
        parts.commands.publish_settings()


async def _speaker(lifetime: Lifetime, audio: AudioDevices, settings: Settings, options: RunOptions,
                   playback: PlaybackEdges, turn: TurnWatch) -> Speaker:
    from daemon.audio.files import FileSpeaker, check_speaker_file

    bus = audio.bus
    if options.speaker_file or not options.audio:
        audio.stand_ins["output"] = f"file {options.speaker_file}" if options.speaker_file else "off (--no-audio)"
        if options.speaker_file:
            try:
                check_speaker_file(options.speaker_file)
            except ValueError as exc:  # names the file, its folder and what to do
                raise StartError(str(exc)) from exc
        speaker = FileSpeaker(playback.started, playback.ended, options.speaker_file,
                              lambda exc: bus.publish(ErrorEvent("audio_device", str(exc), turn=turn.number)))
        lifetime.on_close("speaker file", speaker.close)
        return speaker
    from daemon.audio.playback import Playback
    from daemon.audio.reconnect import DeviceKeeper, earcons

    keeper = DeviceKeeper(bus, "output")
    device = Playback(settings.audio.output_device, playback.started, playback.ended, keeper.on_error)
    try:
        await device.start()
    except Exception as exc:  # kept, closed: `sisyphus set-output-device NAME` opens it again
        audio.failed("output", exc)
    keeper.device = device
    lifetime.on_close("keep output", keeper.close)
    lifetime.on_close("playback", device.stop)
    audio.open["output"] = device
    if settings.audio.earcons:
        earcons(bus, device)
    return device


async def _microphone(lifetime: Lifetime, audio: AudioDevices, settings: Settings, options: RunOptions,
                      microphone: Microphone) -> None:
    """The source under ``microphone``: a WAV file, a capture device, or none (--no-audio)."""
    bus = audio.bus
    if options.mic_file or not options.audio:
        audio.stand_ins["input"] = f"file {options.mic_file}" if options.mic_file else "off (--no-audio)"
    if options.mic_file:
        from daemon.audio.files import FileMic

        try:
            mic = FileMic(options.mic_file, microphone.deliver)
        except ValueError as exc:  # names the file and how to convert it
            raise StartError(str(exc)) from exc
        lifetime.on_close("mic file", mic.close)
        microphone.use_file(mic)
        return
    if not options.audio:
        return
    from daemon.audio.capture import Capture
    from daemon.audio.reconnect import DeviceKeeper

    keeper = DeviceKeeper(bus, "input")
    capture = Capture(settings.audio.input_device, microphone.deliver,
                      lambda level: bus.publish(AudioLevel(level)), keeper.on_error,
                      preroll=settings.audio.preroll_ms / 1000)
    keeper.device = capture
    try:
        await capture.start()
    except Exception as exc:  # kept, closed: `sisyphus set-input-device NAME` opens it again
        audio.failed("input", exc)
    lifetime.on_close("keep input", keeper.close)
    lifetime.on_close("capture", capture.stop)
    audio.open["input"] = capture
    microphone.use_device(capture)


async def _hotkey(lifetime: Lifetime, settings: Settings, options: RunOptions, assistant: Assistant) -> None:
    from daemon.platform.hotkey import create_hotkey

    backend = "dummy" if options.headless else settings.hotkey.backend
    hotkey = create_hotkey(backend, settings.hotkey.chord)
    await hotkey.start(assistant.press, assistant.release)
    lifetime.on_close("hotkey", hotkey.stop)
