"""Audio devices chosen by name, never by index.

PortAudio indexes change whenever a headset is plugged in, so the config stores a name and
every stream open resolves it again. "default" / "System default" (or an empty name) means
"whatever the system's default is at the time the stream opens": the stream is opened with
``device=None`` so it follows the desktop's choice (on PulseAudio/PipeWire the ALSA
``default`` PCM routes to the current default sink/source).

sounddevice is imported lazily: its Linux wheel ships no PortAudio, and the import itself
fails without ``libportaudio2``; that must be a clear error at stream-open time, not an
import crash of the daemon.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from .errors import AudioError, device_fix
from .portaudio import load

Kind = Literal["input", "output"]
SYSTEM_DEFAULT = "default"  # the settings value that follows the system's device
SYSTEM_DEFAULT_LABEL = "System default"  # how menus and listings show it
DEFAULT_NAMES = frozenset({"", "default", "system default", "system"})


class DeviceNotFound(AudioError, LookupError):
    pass


@dataclass(frozen=True)
class Device:
    """What the daemon needs to know about one PortAudio device."""

    index: int | None  # None: the system default (pass device=None to sounddevice)
    name: str
    hostapi: str
    channels: int  # max channels in the requested direction
    samplerate: int  # the device's default rate: always supported, no resampling in PortAudio

    @property
    def label(self) -> str:
        return f"{self.name} ({self.hostapi})"


def load_sounddevice() -> ModuleType:
    """Import sounddevice once, turning a missing PortAudio into an actionable error."""
    return load()


def is_default(name: str | None) -> bool:
    return name is None or name.strip().lower() in DEFAULT_NAMES


def list_devices(kind: Kind, sd: Any = None) -> list[Device]:
    """All devices that can ``kind`` (record or play), in PortAudio order."""
    sd = sd or load_sounddevice()
    hostapis = [h["name"] for h in sd.query_hostapis()]
    key = f"max_{kind}_channels"
    return [Device(i, d["name"], hostapis[d["hostapi"]], int(d[key]), int(d["default_samplerate"]))
            for i, d in enumerate(sd.query_devices()) if d[key] > 0]


def device_names(kind: Kind, sd: Any = None) -> list[str]:
    """Names for the tray menu: "System default" first, then each distinct device name; none when
    there is no device at all (a default that does not exist is no choice)."""
    found = list_devices(kind, sd)
    names = [SYSTEM_DEFAULT_LABEL] if found else []
    for dev in found:
        if dev.name not in names:
            names.append(dev.name)
    return names


def resolve(name: str | None, kind: Kind, sd: Any = None) -> Device:
    """The device called ``name``: exact match (case-insensitive) first, else a unique substring.

    Raises :class:`DeviceNotFound` naming the device and listing what exists.
    """
    sd = sd or load_sounddevice()
    if is_default(name):
        return _system_default(kind, sd)
    assert name is not None
    devices = list_devices(kind, sd)
    wanted = name.strip().lower()
    matches = [d for d in devices if d.name.lower() == wanted]
    if not matches:
        matches = [d for d in devices if wanted in d.name.lower()]
    if len({d.name for d in matches}) == 1:
        return matches[0]  # one device, maybe under several host APIs: the first is the default API
    listing = _listing(devices)
    if not matches:
        raise DeviceNotFound(f"no {kind} device named {name!r}. Available {kind} devices: {listing}. "
                             f"Set the {kind} device to one of these names, or to \"default\".")
    raise DeviceNotFound(f"{kind} device name {name!r} is ambiguous, it matches "
                         f"{_listing(matches)}: use more of the name")


def _system_default(kind: Kind, sd: Any) -> Device:
    try:
        info = sd.query_devices(kind=kind)
    except sd.PortAudioError as exc:
        raise DeviceNotFound(f"there is no default {kind} device ({exc}): {no_device_hint(kind)}") from exc
    hostapi = sd.query_hostapis(info["hostapi"])["name"]
    return Device(None, info["name"], hostapi, int(info[f"max_{kind}_channels"]),
                  int(info["default_samplerate"]))


def _listing(devices: list[Device]) -> str:
    names = sorted({d.name for d in devices})
    return ", ".join(repr(n) for n in names) if names else "(none)"


def no_device_hint(kind: Kind) -> str:
    device = f"an {kind} device"  # input and output both take "an"
    if sys.platform.startswith("linux") and not os.environ.get("PULSE_SERVER") \
            and not os.path.exists(os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/nonexistent"), "pulse")):
        return f"no sound server seems to run; start PulseAudio/PipeWire or plug in {device}, then {device_fix(kind)}"
    return f"plug in or enable {device}, then {device_fix(kind)}"


def open_stream(sd: Any, kind: Kind, dev: Device, latency: float | str = "low",
                **kwargs: Any) -> tuple[Any, int]:
    """Open and start a float32 stream on ``dev`` at its default rate; returns (stream, channels).

    Mono is asked for first; some ALSA hw devices accept only their native channel count,
    so stereo is tried next. Blocking: call it from a worker thread.
    """
    factory = sd.InputStream if kind == "input" else sd.OutputStream
    error: Exception | None = None
    for channels in dict.fromkeys((1, max(1, min(2, dev.channels)))):
        try:
            stream = factory(device=dev.index, samplerate=dev.samplerate, channels=channels,
                             dtype="float32", latency=latency, **kwargs)
        except sd.PortAudioError as exc:
            error = exc
            continue
        try:
            stream.start()
        except sd.PortAudioError as exc:
            stream.close()
            error = exc
            continue
        return stream, channels
    raise AudioError(f"cannot open {kind} device {dev.label}: {error}; {device_fix(kind)}")
