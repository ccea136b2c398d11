"""Menu actions: applied live, written atomically to the config file, published to the tray."""
from __future__ import annotations

import tomllib
from types import SimpleNamespace

from daemon.commands.actions import Commands
from daemon.config.live import LiveSettings
from daemon.config.schema import Settings
from daemon.events import EventBus, SettingsChanged


class FakeAssistant:
    def __init__(self) -> None:
        self.options: dict = {}

    def set_options(self, **changes) -> None:
        self.options.update(changes)


def make(tmp_path, text: str = ""):
    path = tmp_path / "config.toml"
    if text:
        path.write_text(text)
    bus = EventBus()
    seen: list = []
    bus.subscribe(seen.append)
    tts = SimpleNamespace(info=None)  # not described yet: no voices to publish
    live = LiveSettings(path, Settings(), bus)
    app = SimpleNamespace(live=live, assistant=FakeAssistant(), devices={})
    commands = Commands(live, bus, app.assistant, {"tts": tts}, None, app.devices, lambda: None, dict)
    return commands, app, seen


def test_voice_choice_is_applied_written_and_published(tmp_path):
    actions, app, seen = make(tmp_path, "# mine\n[llm]\nmodel = \"qwen3\"\n")
    actions.set_voice("Aiden")
    assert app.assistant.options == {"voice": "Aiden"}
    text = (tmp_path / "config.toml").read_text()
    assert "# mine" in text and tomllib.loads(text) == {"llm": {"model": "qwen3"}, "tts": {"voice": "Aiden"}}
    assert app.live.current.tts.voice == "Aiden" and app.live.current.llm.model == "qwen3"
    assert SettingsChanged("tts", "voice", "Aiden") in seen


def test_hotkey_mode_and_missing_file_uses_documented_template(tmp_path):
    actions, app, seen = make(tmp_path)
    actions.set_hotkey_mode("toggle")
    text = (tmp_path / "config.toml").read_text()
    assert "# sisyphus settings" in text and tomllib.loads(text)["hotkey"]["mode"] == "toggle"
    assert app.assistant.options == {"mode": "toggle"}


async def test_device_choice_reopens_the_stream_and_maps_system_default(tmp_path):
    actions, app, seen = make(tmp_path)

    class Device:
        device_name = "old"
        reopened = 0

        async def reopen(self):
            self.reopened += 1

    app.devices["output"] = Device()
    await actions.set_device("output", "USB Headset")
    assert app.devices["output"].device_name == "USB Headset" and app.devices["output"].reopened == 1
    await actions.set_device("output", "System default")
    assert tomllib.loads((tmp_path / "config.toml").read_text())["audio"]["output_device"] == "default"
    assert seen[-1] == SettingsChanged("audio", "output_device", "default")


def test_settings_are_published_for_the_menu(tmp_path):
    actions, app, seen = make(tmp_path)
    actions.publish_settings()
    keys = {(e.section, e.key) for e in seen if isinstance(e, SettingsChanged)}
    assert {("tts", "voice"), ("audio", "input_device"), ("hotkey", "mode"), ("daemon", "autostart")} <= keys


def test_devices_lists_what_portaudio_offers_or_says_why_not(tmp_path):
    commands, app, _ = make(tmp_path)
    listing = commands.devices()
    assert listing["input_device"] == "default" and listing["output_device"] == "default"
    for kind in ("input", "output"):
        assert isinstance(listing[kind], list)
        assert listing[kind] or listing[f"{kind}_error"]  # no PortAudio here: the reason instead
