"""A reloaded settings file: what can change live is applied, the rest is named, replaced parts are closed."""
from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace

from daemon.app.live import apply_settings, changed_keys
from daemon.app.parts import Lifetime
from daemon.commands.audio import AudioDevices
from daemon.config.schema import Settings
from daemon.events import EventBus, NoticeEvent


class FakeLlm:
    closed = False

    async def aclose(self) -> None:
        self.closed = True


class FakeAssistant:
    def __init__(self) -> None:
        self.llm = FakeLlm()
        self.history = SimpleNamespace(system_prompt="", max_turns=0)
        self.options: dict = {}

    def set_options(self, **changes) -> None:
        self.options.update(changes)

    def reconfigure(self, llm, system_prompt: str, max_turns: int):  # as daemon/assistant/turn.py Assistant
        previous, self.llm = self.llm, llm
        self.history.system_prompt, self.history.max_turns = system_prompt, max_turns
        return previous.aclose()


class Running:
    """The running parts as a reload sees them (daemon/app/live.py Running)."""

    def __init__(self, bus: EventBus) -> None:
        self.bus, self.assistant, self.audio, self.lifetime = bus, FakeAssistant(), AudioDevices(bus), Lifetime()
        self.devices = self.audio.open

    def llm_client(self, settings: Settings) -> FakeLlm:
        return FakeLlm()

    def spawn(self, coro, name: str):
        return self.lifetime.spawn(coro, name)

    async def close(self) -> None:
        await self.lifetime.close()


class Device:
    device_name = "default"
    reopened = 0

    async def reopen(self) -> None:
        self.reopened += 1


def make(tmp_path):
    bus = EventBus()
    seen: list = []
    bus.subscribe(seen.append)
    parts = Running(bus)
    parts.devices["input"] = Device()
    return parts, seen


def change(settings: Settings, section: str, **values) -> Settings:
    return dataclasses.replace(settings, **{section: dataclasses.replace(getattr(settings, section), **values)})


async def test_a_new_llm_setting_replaces_the_client_and_closes_the_old_one(tmp_path):
    parts, seen = make(tmp_path)
    old_client = parts.assistant.llm
    new = change(Settings(), "llm", model="qwen3", history_turns=4)
    apply_settings(parts, Settings(), new)
    await asyncio.sleep(0.01)
    assert parts.assistant.llm is not old_client and old_client.closed
    assert parts.assistant.history.max_turns == 4
    assert not [e for e in seen if isinstance(e, NoticeEvent)]  # nothing waits for a restart
    await parts.close()


async def test_keys_that_need_a_restart_are_named_and_live_ones_applied(tmp_path):
    parts, seen = make(tmp_path)
    new = change(change(change(Settings(), "asr", model="/models/glm"), "hotkey", mode="toggle"),
                 "audio", input_device="USB Mic")
    apply_settings(parts, Settings(), new)
    await asyncio.sleep(0.01)
    assert parts.assistant.options["mode"] == "toggle"
    assert parts.devices["input"].device_name == "USB Mic" and parts.devices["input"].reopened == 1
    notices = [e for e in seen if isinstance(e, NoticeEvent)]
    assert len(notices) == 1 and notices[0].text == "[asr] model"
    assert not parts.assistant.llm.closed  # the LLM settings did not change: same client
    await parts.close()


def test_changed_keys_lists_every_difference():
    new = change(change(Settings(), "vram", poll_s=5.0), "tts", voice="alto")
    assert changed_keys(Settings(), new) == [("tts", "voice"), ("vram", "poll_s")]


async def test_close_logs_a_failing_closer_and_runs_the_others(tmp_path, caplog):
    parts, _ = make(tmp_path)
    closed: list[str] = []

    def broken() -> None:
        raise OSError("device gone")

    parts.lifetime.on_close("first", lambda: closed.append("first"))
    parts.lifetime.on_close("broken", broken)
    await parts.close()
    assert closed == ["first"]
    assert "closing broken failed" in caplog.text and "device gone" in caplog.text


async def test_a_failing_background_task_is_logged(tmp_path, caplog):
    parts, _ = make(tmp_path)

    async def fails() -> None:
        raise RuntimeError("boom")

    parts.spawn(fails(), "doomed")
    await asyncio.sleep(0.01)
    assert "task doomed failed" in caplog.text and "boom" in caplog.text
    await parts.close()
