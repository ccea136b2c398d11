"""The microphone and speaker devices as the commands and the status see them: which is open, what
stands in when none is (a file, off), why one did not open; and switching one to another device,
in one place for ``sisyphus set-input-device`` / the tray and a reloaded settings file."""
from __future__ import annotations

import logging
from typing import Protocol

from daemon.audio.devices import Device
from daemon.audio.errors import with_fix
from daemon.events import ErrorEvent, EventBus

_LOG = logging.getLogger(__name__)
KINDS = ("input", "output")


class OpenDevice(Protocol):
    """An audio device stream opened by name (daemon/audio/capture.py Capture, playback.py Playback)."""

    device_name: str | None

    @property
    def device(self) -> Device | None: ...
    @property
    def is_open(self) -> bool: ...
    async def reopen(self) -> None: ...


class AudioDevices:
    """``open``: "input"/"output" -> the device stream (kept when it failed to open: switching opens it
    again); ``stand_ins``: what is used when there is no device (a file, off); ``problems``: why a device
    did not open at start, with the fix."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.open: dict[str, OpenDevice] = {}
        self.stand_ins: dict[str, str] = {}
        self.problems: dict[str, str] = {}

    def failed(self, kind: str, exc: Exception) -> None:
        """The device did not open at start: say why and how to fix it (the stream is kept)."""
        text = with_fix(str(exc), kind)
        _LOG.error("%s device problem: %s", kind, text)
        self.problems[kind] = text
        self.bus.publish(ErrorEvent("audio_device", text))

    def problem(self, kind: str) -> str:
        """Why there is no microphone ("input") or speaker ("output"), with the fix; '' when there is one."""
        device = self.open.get(kind)
        if kind not in self.problems or (device is not None and device.is_open):
            return ""
        return f"no {'microphone' if kind == 'input' else 'speaker'}: {self.problems[kind]}"

    def any_problem(self) -> str:
        """Why a turn can neither hear nor speak now; '' when both devices are there."""
        return self.problem("input") or self.problem("output")

    def in_use(self, kind: str) -> str:
        device = self.open.get(kind)
        if device is not None and device.device is not None:
            return device.device.label
        return self.stand_ins.get(kind, "off")

    def status(self) -> dict[str, str]:
        return {kind: self.problem(kind) or self.in_use(kind) for kind in KINDS}

    async def switch(self, kind: str, name: str) -> None:
        """Open device ``name`` instead of the one open now; a failure is an ErrorEvent with the fix
        (the stream is kept: switching again, or the device coming back, opens it)."""
        device = self.open.get(kind)
        if device is None:
            return
        device.device_name = name
        try:
            await device.reopen()
        except Exception as exc:
            self.bus.publish(ErrorEvent("audio_device", with_fix(str(exc), kind)))
