"""Device faults: reported once, then the device is reopened until it is back; earcons on edges."""
from __future__ import annotations

import asyncio

from daemon.audio import reconnect
from daemon.backoff import Backoff
from daemon.audio.reconnect import DeviceKeeper, earcons
from daemon.events import ErrorEvent, EventBus, State, StateChanged


class FlakyDevice:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0

    async def reopen(self) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise OSError("device unplugged")


async def test_fault_is_reported_once_and_device_reopened(monkeypatch):
    monkeypatch.setattr(reconnect, "REOPEN", Backoff(0.01, 1.0, 0.01))
    bus = EventBus()
    errors = []
    bus.subscribe(lambda e: errors.append(e) if isinstance(e, ErrorEvent) else None)
    keeper = DeviceKeeper(bus, "input")
    keeper.device = FlakyDevice(failures=3)
    keeper.on_error(OSError("stream died"))
    keeper.on_error(OSError("stream died again"))  # already reconnecting: no second report
    await asyncio.wait_for(keeper._task, 2)
    assert keeper.device.attempts == 4
    assert len(errors) == 1 and errors[0].code == "audio_device" and "reconnecting" in errors[0].text


def test_earcons_on_listening_edges():
    class Playback:
        is_open = True

        def __init__(self) -> None:
            self.clips = []

        def clip(self, pcm: bytes, rate: int) -> None:
            self.clips.append((len(pcm), rate))

    bus, playback = EventBus(), Playback()
    earcons(bus, playback)
    for state in (State.LISTENING, State.THINKING, State.SPEAKING, State.IDLE, State.LISTENING, State.IDLE):
        bus.publish(StateChanged(state))
    assert len(playback.clips) == 4  # start, stop, start, stop
