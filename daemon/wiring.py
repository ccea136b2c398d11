"""Build the daemon's parts from the settings and connect them to the bus (used by App)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from . import paths, profiles
from .assistant import Assistant
from .events import AudioLevel, ErrorEvent, EventBus, State, StateChanged
from .supervisor.clients import Audio
from .supervisor.supervisor import Supervisor

_LOG = logging.getLogger(__name__)


@dataclass
class Parts:
    closers: list[Callable[[], Any]] = field(default_factory=list)

    async def close(self) -> None:
        for closer in reversed(self.closers):
            with contextlib.suppress(Exception):
                result = closer()
                if asyncio.iscoroutine(result):
                    await result


async def build_parts(app) -> Parts:
    settings, bus, parts = app.settings, app.bus, Parts()
    app.profile = profiles.resolve(app.options.profile or settings.daemon.profile, paths.data_dir())
    specs = profiles.specs(settings, app.profile, app.runtime_dir, paths.data_dir())
    app.supervisor = Supervisor(specs, bus, settings.supervisor)
    app.supervisor.start()
    speaker = await _speaker(app, parts)
    app.assistant = Assistant(bus, app.supervisor, *build_llm(settings), speaker, _turn_options(settings))
    await _microphone(app, parts)
    await _hotkey(app, parts)
    _actions(app, parts)
    return parts


def _actions(app, parts: Parts) -> None:
    from .actions import CoreActions
    from .reload import ConfigWatcher

    app.actions = CoreActions(app)
    app.bus.subscribe(app.actions.on_event)
    app.actions.publish_settings()
    watcher = asyncio.get_running_loop().create_task(ConfigWatcher(app).run(), name="config-watcher")
    parts.closers.append(watcher.cancel)
    from .memory import MemoryManager

    app.memory = MemoryManager(app)
    app.assistant.on_cuda_oom = app.memory.on_cuda_oom
    memory = asyncio.get_running_loop().create_task(app.memory.run(app.settings.vram.poll_s), name="memory")
    parts.closers.append(memory.cancel)


def _turn_options(settings):
    from .app import turn_options

    return turn_options(settings)


def build_llm(settings) -> tuple[Any, Any, Any]:  # client, history, chunker class
    from .llm.client import LlmClient
    from .llm.history import History
    from .llm.sentences import SentenceChunker

    llm = settings.llm
    client = LlmClient(base_url=llm.base_url, api_key=llm.api_key, model=llm.model, extra_params=dict(llm.extra),
                       timeout_s=llm.timeout_s, max_retries=llm.max_retries)
    history = History(system_prompt=llm.system_prompt, max_turns=llm.history_turns,
                      idle_reset_s=llm.history_idle_reset_s)
    return client, history, SentenceChunker


class PlaybackSpeaker:
    """Adapts daemon.audio.playback.Playback to the assistant's Speaker protocol."""

    def __init__(self, playback) -> None:
        self.playback = playback

    async def play(self, generation: int, audio: Audio) -> None:
        from .audio.convert import downmix, float_to_s16, pcm_to_float

        pcm = audio.data
        if (audio.width, audio.channels) != (2, 1):
            pcm = float_to_s16(downmix(pcm_to_float(pcm, audio.width, audio.channels))).tobytes()
        await self.playback.put(generation, pcm, audio.rate)

    def finish(self, generation: int) -> None:
        self.playback.end(generation)

    def flush(self, generation: int) -> None:
        self.playback.flush(generation)


async def _speaker(app, parts: Parts):
    from .devio import FileSpeaker

    def on_start(gen: int) -> None:
        app.assistant.on_playback_start(gen)

    def on_end(gen: int, *_interrupted: bool) -> None:  # Playback also passes `interrupted`
        app.assistant.on_playback_end(gen)

    if app.options.speaker_file or not app.options.audio:
        speaker = FileSpeaker(on_start, on_end, app.options.speaker_file)
        parts.closers.append(speaker.close)
        return speaker
    from .audio.playback import Playback
    from .audio_wiring import DeviceKeeper, earcons

    keeper = DeviceKeeper(app.bus, "output")
    playback = Playback(app.settings.audio.output_device, on_start, on_end, keeper.on_error)
    try:
        await playback.start()
    except Exception as exc:  # no sound server, device unplugged: run on, say what to do
        _audio_error(app.bus, exc)
        return FileSpeaker(on_start, on_end, None)
    keeper.device = playback
    parts.closers.append(playback.stop)
    app.devices["output"] = playback
    if app.settings.audio.earcons:
        earcons(app.bus, playback)
    return PlaybackSpeaker(playback)


async def _microphone(app, parts: Parts) -> None:
    bus = app.bus
    if app.options.mic_file:
        from .devio import FileMic

        mic = FileMic(app.options.mic_file, app.assistant.on_audio)
        bus.subscribe(lambda e: mic.start_turn() if _is_state(e, State.LISTENING) else None)
        return
    if not app.options.audio:
        return
    from .audio.capture import Capture
    from .audio_wiring import DeviceKeeper

    keeper = DeviceKeeper(bus, "input")
    capture = Capture(app.settings.audio.input_device, app.assistant.on_audio,
                      lambda level: bus.publish(AudioLevel(level)), keeper.on_error,
                      preroll=app.settings.audio.preroll_ms / 1000)
    keeper.device = capture
    try:
        await capture.start()
    except Exception as exc:
        _audio_error(app.bus, exc)
        return
    parts.closers.append(capture.stop)
    app.devices["input"] = capture

    def follow(event) -> None:
        if isinstance(event, StateChanged):
            task = capture.begin() if event.state == State.LISTENING else capture.end()
            asyncio.get_running_loop().create_task(task)

    bus.subscribe(follow)


async def _hotkey(app, parts: Parts) -> None:
    from .platform.hotkey import create_hotkey

    backend = "dummy" if app.options.headless else app.settings.hotkey.backend
    hotkey = create_hotkey(backend, app.settings.hotkey.chord)
    await hotkey.start(app.assistant.press, app.assistant.release)
    parts.closers.append(hotkey.stop)
    app.hotkey = hotkey


def _is_state(event, state: State) -> bool:
    return isinstance(event, StateChanged) and event.state == state


def _audio_error(bus: EventBus, exc: Exception) -> None:
    _LOG.error("audio device problem: %s", exc)
    bus.publish(ErrorEvent("audio_device", f"{exc}; check the device in the tray's Input/Output menu"))


def run_tray(app, core) -> None:
    """Main thread: the tray until Quit (tray integration lives in daemon/trayapp.py)."""
    from .trayapp import run

    run(app, core)
