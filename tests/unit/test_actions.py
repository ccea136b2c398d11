"""Menu actions: applied live, written atomically to the config file, published to the tray."""
from __future__ import annotations

import tomllib
from types import SimpleNamespace

import pytest
from wyoming.info import Attribution, Info, TtsProgram, TtsVoice

from daemon.commands.actions import Commands
from daemon.commands.audio import AudioDevices
from daemon.config.live import LiveSettings
from daemon.config.schema import Settings
from daemon.events import ErrorEvent, EventBus, SettingsChanged, VoicesChanged


class FakeAssistant:
    def __init__(self) -> None:
        self.options: dict = {}

    def set_options(self, **changes) -> None:
        self.options.update(changes)


class FakeEngines:
    """The engines as the commands see them (daemon/assistant/faces.py Engines): here only the TTS one."""

    def __init__(self) -> None:
        self.tts = SimpleNamespace(info=None, spec=SimpleNamespace(argv=()))  # not described yet: no voices

    def info(self, name: str):
        return getattr(self, name).info

    def spec(self, name: str):
        return getattr(self, name).spec


def make(tmp_path, text: str = ""):
    path = tmp_path / "config.toml"
    if text:
        path.write_text(text)
    bus = EventBus()
    seen: list = []
    bus.subscribe(seen.append)
    live = LiveSettings(path, Settings(), bus)
    audio = AudioDevices(bus)
    app = SimpleNamespace(live=live, assistant=FakeAssistant(), devices=audio.open)
    commands = Commands(live, bus, app.assistant, FakeEngines(), audio, lambda: None, dict)
    return commands, app, seen


def tts_info(*names: str, program: str = "sisyphus-qwen3-tts") -> Info:
    attribution = Attribution(name="", url="")
    voices = [TtsVoice(name=n, description=n, attribution=attribution, installed=True, version=None,
                       languages=["en"]) for n in names]
    return Info(tts=[TtsProgram(name=program, description="", attribution=attribution, installed=True,
                                version="2.5.2", voices=voices)])


def described(actions, *names: str, argv: tuple = (), program: str = "sisyphus-qwen3-tts") -> None:
    actions.engines.tts.info = tts_info(*names, program=program)
    actions.engines.tts.spec.argv = argv


def test_voice_choice_is_applied_written_and_published(tmp_path):
    actions, app, seen = make(tmp_path, "# mine\n[llm]\nmodel = \"qwen3\"\n")
    described(actions, "Aiden", "Ryan")
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


def test_a_voice_the_engine_does_not_offer_is_refused_naming_the_ones_it_does(tmp_path):
    actions, app, seen = make(tmp_path)
    with pytest.raises(ValueError, match="not described its voices"):
        actions.set_voice("Aiden")  # the engine is still starting: nothing to check against
    described(actions, "Aiden", "Ryan")
    with pytest.raises(ValueError, match=r"no voice named 'Bogus'; it offers: Aiden, Ryan\. .*sisyphus set-voice"):
        actions.set_voice("Bogus")
    assert app.live.current.tts.voice == "" and not (tmp_path / "config.toml").exists()  # nothing saved
    actions.set_voice("")  # the engine's default is always a choice
    assert app.assistant.options == {"voice": ""}


def test_a_saved_voice_the_engine_does_not_offer_falls_back_to_its_default_saying_so(tmp_path):
    actions, app, seen = make(tmp_path)
    app.live.set("tts", "voice", "Vivian")  # saved while another engine ran
    described(actions, "Aiden", "Ryan")
    actions.publish_voices()  # what the engine's READY does
    assert app.assistant.options == {"voice": ""}
    errors = [e for e in seen if isinstance(e, ErrorEvent)]
    assert [e.code for e in errors] == ["unknown_voice"] and "'Vivian'" in errors[0].text
    assert tomllib.loads((tmp_path / "config.toml").read_text())["tts"]["voice"] == "Vivian"  # kept
    described(actions, "Aiden", "Vivian")  # an engine that has it again: it is used again
    actions.publish_voices()
    assert app.assistant.options == {"voice": "Vivian"}


def test_a_piper_we_run_offers_the_voices_installed_in_its_data_dirs(tmp_path):
    bundled, downloads = tmp_path / "bundled", tmp_path / "downloads"
    bundled.mkdir()
    for name in ("en_US-joe-medium.onnx", "en_US-joe-medium.onnx.json", "de_DE-half.onnx"):  # half: no .json
        (bundled / name).write_bytes(b"")
    actions, app, seen = make(tmp_path)
    argv = ("python", "-m", "wyoming_piper", "--voice", "en_US-joe-medium", "--data-dir", str(bundled),
            "--data-dir", str(downloads))
    described(actions, "de_DE-half", "en_US-joe-medium", "en_US-lessac-high", program="piper", argv=argv)
    actions.publish_voices()  # the menu's list
    listed = actions.list_voices()
    assert [v["name"] for v in listed["voices"]] == ["en_US-joe-medium"]
    assert "cannot clone voices" in listed["cloning"] and "gpu profile" in listed["cloning"]
    assert [v[0] for v in next(e for e in seen if isinstance(e, VoicesChanged)).voices] == ["en_US-joe-medium"]
    with pytest.raises(ValueError, match="it offers: en_US-joe-medium"):
        actions.set_voice("en_US-lessac-high")  # in piper's catalog, but not installed
    described(actions, "en_US-lessac-high", program="piper")  # a remote piper: its own word is all there is
    assert [v["name"] for v in actions.list_voices()["voices"]] == ["en_US-lessac-high"]


def test_devices_lists_no_system_default_when_there_is_no_device(tmp_path, monkeypatch):
    from daemon.audio import devices

    monkeypatch.setattr(devices, "list_devices", lambda kind, sd=None: [])  # a headless box
    actions, app, seen = make(tmp_path)
    listing = actions.devices()
    assert listing["input"] == [] and listing["output"] == []
    assert listing["input_error"].startswith("no input device found: ")
    assert "`sisyphus set-input-device NAME`" in listing["input_error"] and "tray" not in listing["input_error"]


class FakeTools:
    """The MCP servers as the commands see them (daemon/assistant/faces.py ToolServers)."""

    def __init__(self, states: dict[str, str]) -> None:
        self.states, self.restarts = states, 0

    def status(self) -> dict[str, dict]:
        return {name: {"state": state} for name, state in self.states.items()}

    def restart(self) -> list[str]:
        self.restarts += 1
        return list(self.states)


async def test_restart_engines_also_brings_back_the_tool_servers_that_failed(tmp_path):
    engines = FakeEngines()

    async def respawn() -> list[str]:
        return ["asr", "tts"]

    engines.respawn = respawn  # type: ignore[attr-defined]
    tools = FakeTools({"files": "ready", "calendar": "failed", "web": "backoff"})
    commands = Commands(LiveSettings(tmp_path / "c.toml", Settings(), EventBus()), EventBus(), FakeAssistant(),
                        engines, AudioDevices(EventBus()), lambda: None, dict, tools)
    reply = await commands.restart_engines()
    assert reply["restarted"] == ["asr", "tts"] and reply["tools"] == ["calendar", "web"] and tools.restarts == 1
    assert reply["notice"].endswith("tool servers connecting again: calendar, web")
    tools.states = {"files": "ready"}
    assert "tool servers" not in (await commands.restart_engines())["notice"]  # none failed: no word about them
    without = Commands(LiveSettings(tmp_path / "d.toml", Settings(), EventBus()), EventBus(), FakeAssistant(),
                       engines, AudioDevices(EventBus()), lambda: None, dict)
    assert await without.restart_engines() == {"restarted": ["asr", "tts"], "notice": reply["notice"].split(";")[0]
                                               + "; `sisyphus status` shows when they are ready"}
