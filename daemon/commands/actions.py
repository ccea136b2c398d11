"""What the commands do, on the core loop (see table.py for the list and its arguments).

Every setting chosen here is applied live, written to the config file atomically
(keeping the user's other keys and comments) and published as SettingsChanged,
so it survives a restart and the tray shows it at once.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

from daemon import paths
from daemon.assistant.faces import Engines, ToolServers, Turns
from daemon.assistant.voices import VoiceCloner
from daemon.audio.devices import SYSTEM_DEFAULT, is_default
from daemon.config import store
from daemon.config.live import LiveSettings
from daemon.events import EngineState, EngineStateChanged, ErrorEvent, Event, EventBus, NoticeEvent, VoicesChanged
from daemon.speech import offer

from .audio import AudioDevices

_LOG = logging.getLogger(__name__)


class Commands:
    """One method per command; each returns the reply's fields (a dict) or None.

    ``tools``: the MCP servers (daemon.tools.servers.ToolServers) when [[tools.mcp]] servers are set.
    The voice cloner (daemon/assistant/voices.py) is built here: it reads the voices again and selects
    a new one through these commands."""

    def __init__(self, live: LiveSettings, bus: EventBus, assistant: Turns, engines: Engines,
                 audio: AudioDevices, quit: Callable[[], None], status: Callable[[], dict],
                 tools: ToolServers | None = None) -> None:
        self.live, self.bus, self.assistant, self.engines = live, bus, assistant, engines
        self.cloner = VoiceCloner(bus, assistant, engines, self.refresh_voices, self.set_voice)
        self.audio = audio
        self._quit, self._status = quit, status
        self.tools = tools

    # -- the turn and the daemon -------------------------------------------------------
    def status(self) -> dict:
        return self._status()

    def ptt(self, action: str) -> dict:
        getattr(self.assistant, action)()
        return {"state": self.assistant.state.value}

    def stop(self) -> dict:
        self.assistant.stop()
        return {"state": self.assistant.state.value}

    def new_conversation(self) -> None:
        self.assistant.new_conversation()

    async def restart_engines(self) -> dict:
        """Stop every engine's process (healthy ones too) and start it again; the reply comes
        once the old processes are gone, the new ones load in the background (`sisyphus status`)."""
        names = await self.engines.respawn()
        notice = f"stopped and started again: {', '.join(names)}; `sisyphus status` shows when they are ready"
        if self.tools is None:
            return {"restarted": names, "notice": notice}
        # the tray's one "Restart engines" also brings back MCP tool servers that failed (those up stay up)
        failed = [name for name, server in self.tools.status().items() if server.get("state") in ("failed", "backoff")]
        self.tools.restart()
        if failed:
            notice += f"; tool servers connecting again: {', '.join(failed)}"
        return {"restarted": names, "tools": failed, "notice": notice}

    def list_tools(self) -> dict:
        return {"servers": self.tools.status() if self.tools is not None else {}}

    def restart_tools(self) -> dict:
        return {"restarted": self.tools.restart() if self.tools is not None else []}

    def quit(self) -> None:
        self._quit()

    # -- settings ----------------------------------------------------------------------
    def publish_settings(self) -> None:
        """Everything the menu shows (settings, and voices once the TTS engine described them)."""
        if self.engines.info("tts") is not None:
            self.publish_voices()
        self.live.publish()

    def set_voice(self, name: str) -> None:
        """Speak with ``name`` ("" for the engine's default); ValueError when the engine does not offer it."""
        offered = self.offered_voices()
        if name and name not in (offered or ()):
            raise ValueError(offer.unknown_voice(name, offered))
        if self.live.set("tts", "voice", name):
            self.assistant.set_options(voice=name)

    def set_hotkey_mode(self, mode: str) -> None:
        if self.live.set("hotkey", "mode", mode):
            self.assistant.set_options(mode=mode)

    async def set_input_device(self, name: str) -> None:
        await self.set_device("input", name)

    async def set_output_device(self, name: str) -> None:
        await self.set_device("output", name)

    async def set_device(self, kind: str, name: str) -> None:
        value = SYSTEM_DEFAULT if is_default(name) else name
        if self.live.set("audio", f"{kind}_device", value):
            await self.audio.switch(kind, value)

    def devices(self) -> dict:
        from daemon.audio.devices import AudioError, device_names, no_device_hint

        audio = self.live.current.audio
        listing: dict = {"input_device": audio.input_device, "output_device": audio.output_device}
        for kind in ("input", "output"):
            try:
                listing[kind] = device_names(kind)
            except (AudioError, OSError) as exc:
                listing[kind], listing[f"{kind}_error"] = [], str(exc)
            else:
                if not listing[kind]:
                    listing[f"{kind}_error"] = f"no {kind} device found: {no_device_hint(kind)}"
        return listing

    def set_autostart(self, enabled: bool) -> None:
        from daemon.platform.autostart import daemon_command, get_autostart

        backend = get_autostart()
        try:
            backend.enable(daemon_command(self.live.path)) if enabled else backend.disable()
        except OSError as exc:
            self.bus.publish(ErrorEvent("autostart", f"could not change start at login: {exc}"))
            return
        self.live.set("daemon", "autostart", enabled)

    def edit_settings(self) -> None:
        if not self.live.path.exists():
            store.atomic_write(self.live.path, store.default_text())
        open_with_desktop(self.live.path)

    def open_log(self) -> None:
        open_with_desktop(paths.log_dir() / "sisyphus.log")

    # -- voices --------------------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        """Publish the TTS engine's voices whenever it becomes ready."""
        if isinstance(event, EngineStateChanged) and event.name == "tts" and event.state == EngineState.READY:
            self.publish_voices()

    def offered_voices(self) -> list[str] | None:
        """The names of the voices the TTS engine can speak now; None before it described itself."""
        info = self.engines.info("tts")
        return None if info is None else offer.offered_names(info, self.engines.spec("tts").argv)

    def publish_voices(self) -> None:
        info = self.engines.info("tts")
        voices = [(v.name, v.description or "", "cloned" in (v.description or ""))
                  for v in offer.offered_voices(info, self.engines.spec("tts").argv)]
        self.bus.publish(VoicesChanged(tuple(voices)))
        self.check_voice()

    def check_voice(self) -> None:
        """A saved voice the engine does not offer (another profile's, a removed one) would fail every
        turn: speak with the engine's default instead, say so, and keep the setting as it is."""
        voice, offered = self.live.current.tts.voice, self.offered_voices()
        if not voice or offered is None:
            return
        if voice in offered:
            self.assistant.set_options(voice=voice)
            return
        self.assistant.set_options(voice="")
        problem = offer.unknown_voice(voice, offered)
        self.bus.publish(ErrorEvent("unknown_voice", f"[tts] voice: {problem}; speaking with the engine's default "
                                    "voice until then"))

    def list_voices(self) -> dict:
        info = self.engines.info("tts")
        if info is None:
            raise RuntimeError("the speech engine has not described its voices yet; try again when it is ready")
        voices = [{"name": v.name, "description": v.description or ""}
                  for v in offer.offered_voices(info, self.engines.spec("tts").argv)]
        reply = {"voices": voices, "current": self.live.current.tts.voice}
        return reply if offer.manages_voices(info) else {**reply, "cloning": offer.cannot_clone(info)}

    def record_voice(self, name: str = "") -> dict:
        self.cloner.record(name)
        return {"notice": "hold the hotkey and read the sentence shown in the notification"}

    async def add_voice(self, name: str, audio: str, text: str = "") -> dict:
        pcm = read_reference(Path(audio))
        await self.cloner.add(name, pcm, text)
        self.bus.publish(NoticeEvent("Voice added", f"{name} is in the Voice menu"))
        self.set_voice(name)
        return {"voice": name}

    async def remove_voice(self, name: str) -> None:
        try:
            await self.cloner.remove(name)
        except Exception as exc:
            self.bus.publish(ErrorEvent(getattr(exc, "code", "voice_remove"), f"could not remove {name}: {exc}"))
            raise

    async def refresh_voices(self) -> None:
        await self.engines.refresh_info("tts")
        self.publish_voices()


def read_reference(path: Path) -> bytes:
    """A reference recording as 16 kHz mono s16, from a WAV file of any rate and width."""
    from daemon.audio.convert import convert_to_asr
    from daemon.audio.wavfile import read_wav

    wav = read_wav(path, "--audio")
    return convert_to_asr(wav.data, wav.rate, wav.width, wav.channels)


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
