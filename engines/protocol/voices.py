"""The private voice-management events (``x-voice-*``) as typed events.

Our TTS engine answers them besides the Wyoming TTS events; other Wyoming servers
answer ``error`` (or nothing), so a client only sends them to an engine it runs.
Each request has one reply event (or ``error{code, text}``):

  x-voice-add {name, text, rate, width, channels, replace} + s16le payload -> x-voice-added {voice}
  x-voice-list                                                           -> x-voices {voices, presets}
  x-voice-remove {name}                                                  -> x-voice-removed {name}
  x-voice-set-text {name, text}                                          -> x-voice-updated {voice}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import re

from wyoming.event import Event, Eventable

ADD, ADDED = "x-voice-add", "x-voice-added"
LIST, LISTED = "x-voice-list", "x-voices"
REMOVE, REMOVED = "x-voice-remove", "x-voice-removed"
SET_TEXT, UPDATED = "x-voice-set-text", "x-voice-updated"
# Our engines' Wyoming program names start with this; they are the ones that answer x-voice-*.
OWN_PROGRAM_PREFIX = "sisyphus-"
# A cloned voice's name is also its directory name in the engine's voices dir.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")
NAME_RULE = "1-48 characters: letters, digits, '_' or '-', starting with a letter or digit"


@dataclass
class VoiceAdd(Eventable):
    """Clone a voice from reference audio (PCM in the payload) and the words said in it."""

    name: str
    audio: bytes
    text: str = ""
    rate: int = 16000
    width: int = 2
    channels: int = 1
    replace: bool = False

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == ADD

    def event(self) -> Event:
        data = {"name": self.name, "text": self.text, "rate": self.rate, "width": self.width,
                "channels": self.channels, "replace": self.replace}
        return Event(ADD, data=data, payload=self.audio)

    @staticmethod
    def from_event(event: Event) -> "VoiceAdd":
        data = event.data
        return VoiceAdd(str(data.get("name", "")), event.payload or b"", str(data.get("text") or ""),
                        data.get("rate", 16000), data.get("width", 2), data.get("channels", 1),
                        bool(data.get("replace")))


@dataclass
class VoiceList(Eventable):
    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == LIST

    def event(self) -> Event:
        return Event(LIST)

    @staticmethod
    def from_event(event: Event) -> "VoiceList":
        return VoiceList()


@dataclass
class Voices(Eventable):
    """The cloned voices (each a dict with at least ``name``) and the preset speakers."""

    voices: list[dict[str, Any]] = field(default_factory=list)
    presets: list[str] = field(default_factory=list)

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == LISTED

    def event(self) -> Event:
        return Event(LISTED, data={"voices": self.voices, "presets": self.presets})

    @staticmethod
    def from_event(event: Event) -> "Voices":
        voices = [v for v in event.data.get("voices") or [] if isinstance(v, dict) and "name" in v]
        return Voices(voices, [str(p) for p in event.data.get("presets") or []])


@dataclass
class VoiceRemove(Eventable):
    name: str

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == REMOVE

    def event(self) -> Event:
        return Event(REMOVE, data={"name": self.name})

    @staticmethod
    def from_event(event: Event) -> "VoiceRemove":
        return VoiceRemove(str(event.data.get("name", "")))


@dataclass
class VoiceSetText(Eventable):
    name: str
    text: str

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type == SET_TEXT

    def event(self) -> Event:
        return Event(SET_TEXT, data={"name": self.name, "text": self.text})

    @staticmethod
    def from_event(event: Event) -> "VoiceSetText":
        return VoiceSetText(str(event.data.get("name", "")), str(event.data.get("text") or ""))


@dataclass
class VoiceDone(Eventable):
    """The reply to add, remove and set-text: which one (``type``) and the voice's description."""

    type: str
    voice: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def is_type(event_type: str) -> bool:
        return event_type in (ADDED, REMOVED, UPDATED)

    def event(self) -> Event:
        return Event(self.type, data=self.voice)

    @staticmethod
    def from_event(event: Event) -> "VoiceDone":
        return VoiceDone(event.type, dict(event.data))
