"""Cloned voices: record one (hold the hotkey, read a sentence), add one from a file, remove one.

A reference is checked here first (length, level, clipping: a bad reference makes a
bad voice forever), transcribed by the ASR engine when its words are not given, and
added to the TTS engine's voices with the ``x-voice-add`` event.
"""
from __future__ import annotations

import logging
import re
from typing import Awaitable, Callable

from daemon.events import ErrorEvent, EventBus, NoticeEvent
from daemon.errors import SisyphusError
from daemon.speech import clients, offer, voices
from engines.protocol import clips
from engines.protocol.pcm import pcm_to_mono
from engines.protocol.voices import NAME_RE, NAME_RULE

from .faces import Engines, Turns

_LOG = logging.getLogger(__name__)
RATE = 16000
SENTENCE = ("The quick brown fox jumps over the lazy dog. I am recording my voice for sisyphus, "
            "so it can answer me in a voice that sounds like mine.")


def check_recording(pcm: bytes, rate: int = RATE) -> str:
    """'' when 16-bit mono ``pcm`` is a usable reference, else what is wrong and what to do (engines.protocol.clips)."""
    return clips.problem(pcm_to_mono(pcm, 2, 1), rate)


def next_name(existing: set[str]) -> str:
    numbers = [int(m.group(1)) for name in existing if (m := re.fullmatch(r"my-voice-(\d+)", name))]
    return f"my-voice-{max(numbers, default=0) + 1}"


class VoiceCloner:
    """Adds cloned voices to the TTS engine: recorded with the hotkey, or from a reference file.

    ``refresh()`` runs after the engine's voices changed (the menu's list is read again);
    ``choose(name)`` selects a voice just added.
    """

    def __init__(self, bus: EventBus, assistant: Turns, engines: Engines, refresh: Callable[[], Awaitable[None]],
                 choose: Callable[[str], None]) -> None:
        self.bus, self.assistant, self.engines = bus, assistant, engines
        self.refresh, self.choose = refresh, choose

    def record(self, name: str = "") -> None:
        """The next hold of the hotkey records the reference; ``name`` (or my-voice-N) is its name."""
        if name:
            check_voice_name(name)
        self._check_engine()  # an engine that cannot clone: say so now, not after the recording
        self.assistant.record_next(lambda pcm: self.recorded(pcm, name))
        self.bus.publish(NoticeEvent("Record a new voice", f"Hold the hotkey and read aloud: “{SENTENCE}”"))

    async def recorded(self, pcm: bytes, name: str = "") -> None:
        problem = check_recording(pcm)
        if problem:
            self.bus.publish(ErrorEvent("voice_recording", f"Voice not added: {problem}. "
                                        "Try again with `sisyphus voices record`."))
            return
        text = await self._transcribe(pcm)
        name = await self.add(name or next_name(self.names()), pcm, text)
        self.bus.publish(NoticeEvent("Voice added", f"{name} is in the Voice menu ({text[:60]!r})"))
        self.choose(name)

    async def add(self, name: str, pcm: bytes, text: str) -> str:
        """Clone ``name`` from 16 kHz mono s16 ``pcm`` and its words (transcribed when empty)."""
        check_voice_name(name)
        problem = check_recording(pcm)
        if problem:
            raise ValueError(f"voice {name!r} not added: {problem}")
        self._check_engine()
        text = text.strip() or await self._transcribe(pcm)
        async with self.engines.use("tts", 60) as uri:
            self._check_engine()  # described now, if it was still starting before
            description = await voices.add_voice(uri, name, pcm, text, RATE)
        _LOG.info("voice added: %s", description)
        await self.refresh()
        return name

    async def remove(self, name: str) -> None:
        self._check_engine()
        try:
            async with self.engines.use("tts", 30) as uri:
                self._check_engine()
                await voices.remove_voice(uri, name)
        finally:
            await self.refresh()

    def _check_engine(self) -> None:
        """Refuse at once when the TTS engine (once described) does not answer the x-voice-* events."""
        info = self.engines.info("tts")
        if info is not None and not offer.manages_voices(info):
            raise SisyphusError(offer.cannot_clone(info), "voices_unsupported")

    def names(self) -> set[str]:
        info = self.engines.info("tts")
        return {v.name for p in (info.tts if info else []) for v in p.voices}

    async def _transcribe(self, pcm: bytes) -> str:
        async def blocks():
            for i in range(0, len(pcm), 3200):
                yield pcm[i:i + 3200]

        async with self.engines.use("asr", 60) as uri:
            return (await clients.transcribe("asr", uri, blocks(), http=self.engines.spec("asr").http)).strip()


def check_voice_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise ValueError(f"voice name {name!r}: {NAME_RULE}")
