"""What the tray's menu (and the control socket) can do, run on the core loop.

Every setting chosen here is applied live, written to the config file atomically
(keeping the user's other keys and comments) and published as SettingsChanged,
so it survives a restart and the tray shows it at once.
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from wyoming.event import Event

from . import config, paths
from .events import EngineState, EngineStateChanged, ErrorEvent, SettingsChanged, VoicesChanged
from .supervisor.clients import Connection

_LOG = logging.getLogger(__name__)
SYSTEM_DEFAULT = "default"  # what the menu and the config call "follow the system"
MENU_SETTINGS = (("tts", "voice"), ("audio", "input_device"), ("audio", "output_device"), ("hotkey", "mode"),
                 ("hotkey", "chord"), ("daemon", "autostart"), ("tray", "theme"))


class CoreActions:
    def __init__(self, app) -> None:
        self.app = app

    # -- settings ------------------------------------------------------------------
    def publish_settings(self) -> None:
        """Everything the menu shows (settings, and voices once the TTS engine described them)."""
        if self.app.supervisor["tts"].info is not None:
            self.publish_voices()
        for section, key in MENU_SETTINGS:
            value = getattr(getattr(self.app.settings, section), key)
            self.app.bus.publish(SettingsChanged(section, key, _shown(section, key, value)))

    def _persist(self, section: str, key: str, value: Any) -> bool:
        try:
            self.app.settings = config.write_settings(self.app.config_path, {section: {key: value}},
                                                      template=config.default_text())
        except (config.ConfigError, OSError) as exc:
            self.app.bus.publish(ErrorEvent("config_write", f"could not save [{section}] {key}: {exc}"))
            return False
        self.app.settings = config.apply_env(self.app.settings, config.read_table(self.app.config_path), os.environ)
        self.app.bus.publish(SettingsChanged(section, key, _shown(section, key, value)))
        return True

    def set_voice(self, name: str) -> None:
        if self._persist("tts", "voice", name):
            self.app.assistant.set_options(voice=name)

    def set_hotkey_mode(self, mode: str) -> None:
        if self._persist("hotkey", "mode", mode):
            self.app.assistant.set_options(mode=mode)

    async def set_device(self, kind: str, name: str) -> None:
        value = SYSTEM_DEFAULT if name in (SYSTEM_DEFAULT, "System default", "") else name
        if self._persist("audio", f"{kind}_device", value):
            device = self.app.devices.get(kind)
            if device is not None:
                device.device_name = value
                try:
                    await device.reopen()
                except Exception as exc:
                    self.app.bus.publish(ErrorEvent("audio_device", f"{exc}; pick another device in the menu"))

    def set_autostart(self, enabled: bool) -> None:
        from .platform.autostart import daemon_command, get_autostart

        backend = get_autostart()
        try:
            backend.enable(daemon_command(self.app.config_path)) if enabled else backend.disable()
        except OSError as exc:
            self.app.bus.publish(ErrorEvent("autostart", f"could not change start at login: {exc}"))
            return
        self._persist("daemon", "autostart", enabled)

    def record_voice(self) -> None:
        from .voicerec import VoiceRecorder

        VoiceRecorder(self.app).start()

    def new_conversation(self) -> None:
        self.app.assistant.history.reset()

    def restart_engines(self) -> None:
        self.app.supervisor.restart()

    def edit_settings(self) -> None:
        path = self.app.config_path
        if not path.exists():
            config.atomic_write(path, config.default_text())
        open_with_desktop(path)

    def open_log(self) -> None:
        open_with_desktop(paths.log_dir() / "sisyphus.log")

    def quit(self) -> None:
        self.app.request_quit()

    # -- voices ----------------------------------------------------------------------
    def on_event(self, event) -> None:
        """Publish the TTS engine's voices whenever it becomes ready."""
        if isinstance(event, EngineStateChanged) and event.name == "tts" and event.state == EngineState.READY:
            self.publish_voices()

    def publish_voices(self) -> None:
        info = self.app.supervisor["tts"].info
        voices = []
        for program in (info.tts if info else []) or []:
            for voice in program.voices:
                if voice.installed:
                    voices.append((voice.name, voice.description or "", "cloned" in (voice.description or "")))
        self.app.bus.publish(VoicesChanged(tuple(voices)))

    async def remove_voice(self, name: str) -> None:
        engine = self.app.supervisor["tts"]
        try:
            async with engine.use(30) as uri, await Connection.open("tts", uri) as conn:
                await conn.send(Event("x-voice-remove", data={"name": name}))
                await conn.recv()
                engine.info = None
        except Exception as exc:
            self.app.bus.publish(ErrorEvent(getattr(exc, "code", "voice_remove"), f"could not remove {name}: {exc}"))
            return
        from .supervisor import clients

        engine.info = await clients.describe("tts", engine.spec.uri, 10)
        self.publish_voices()


def _shown(section: str, key: str, value: Any) -> Any:
    if section == "audio" and value in ("", "System default"):
        return SYSTEM_DEFAULT
    return value


def open_with_desktop(path: Path) -> None:
    """Open a file with the desktop's default application, never blocking the loop."""
    if sys.platform == "win32":
        os.startfile(str(path))  # type: ignore[attr-defined]
        return
    opener = "open" if sys.platform == "darwin" else shutil.which("xdg-open")
    if not opener:
        _LOG.warning("no xdg-open: open %s yourself", path)
        return
    subprocess.Popen([opener, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)


def loop_call(loop: asyncio.AbstractEventLoop, fn, *args) -> None:
    """Run ``fn(*args)`` on the core loop from the tray's thread; coroutines become tasks."""
    def run() -> None:
        result = fn(*args)
        if asyncio.iscoroutine(result):
            loop.create_task(result)

    loop.call_soon_threadsafe(run)
