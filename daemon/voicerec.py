"""Record a new voice from the tray: hold the hotkey, read a sentence, get a cloned voice.

The recording is checked here first (length, level, clipping: a bad reference makes a
bad voice forever), transcribed by the ASR engine for its reference text, and added to
the TTS engine's voices with the ``x-voice-add`` event; the voice list is then refreshed.
"""
from __future__ import annotations

import logging
import re

import numpy as np
from wyoming.event import Event

from .events import ErrorEvent, NoticeEvent
from .supervisor import clients
from .supervisor.clients import Connection

_LOG = logging.getLogger(__name__)
RATE = 16000
SENTENCE = ("The quick brown fox jumps over the lazy dog. I am recording my voice for sisyphus, "
            "so it can answer me in a voice that sounds like mine.")
MIN_S, MAX_S = 3.0, 30.0
MIN_RMS_DBFS = -45.0
MAX_CLIPPED = 0.001


def check_recording(pcm: bytes, rate: int = RATE) -> str:
    """'' when usable, else what is wrong and what to do."""
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    seconds = audio.size / rate
    if seconds < MIN_S:
        return f"the recording is {seconds:.1f} s; hold the key while you read the whole sentence (at least 3 s)"
    if seconds > MAX_S:
        return f"the recording is {seconds:.0f} s; keep it under {MAX_S:.0f} s"
    rms = float(np.sqrt(np.mean(audio**2)))
    if 20 * np.log10(max(rms, 1e-9)) < MIN_RMS_DBFS:
        return "the recording is almost silent; check the microphone in the Input device menu and speak closer"
    if float(np.mean(np.abs(audio) >= 0.999)) > MAX_CLIPPED:
        return "the recording is clipped (too loud); lower the microphone gain or speak further away"
    return ""


def next_name(existing: set[str]) -> str:
    numbers = [int(m.group(1)) for name in existing if (m := re.fullmatch(r"my-voice-(\d+)", name))]
    return f"my-voice-{max(numbers, default=0) + 1}"


class VoiceRecorder:
    def __init__(self, app) -> None:
        self.app = app

    def start(self) -> None:
        self.app.assistant.record_next(self.recorded)
        self.app.bus.publish(NoticeEvent("Record a new voice", f"Hold the hotkey and read aloud: “{SENTENCE}”"))

    async def recorded(self, pcm: bytes) -> None:
        problem = check_recording(pcm)
        if problem:
            self.app.bus.publish(ErrorEvent("voice_recording", f"Voice not added: {problem}. "
                                            "Choose 'Record a new voice…' to try again."))
            return
        text = await self._transcribe(pcm)
        name = await self._add(pcm, text)
        self.app.bus.publish(NoticeEvent("Voice added", f"{name} is in the Voice menu ({text[:60]!r})"))
        self.app.actions.set_voice(name)

    async def _transcribe(self, pcm: bytes) -> str:
        async def blocks():
            for i in range(0, len(pcm), 3200):
                yield pcm[i:i + 3200]

        async with self.app.supervisor["asr"].use(60) as uri:
            return (await clients.transcribe("asr", uri, blocks())).strip()

    async def _add(self, pcm: bytes, text: str) -> str:
        engine = self.app.supervisor["tts"]
        voices = {v.name for p in (engine.info.tts if engine.info else []) for v in p.voices}
        name = next_name(voices)
        async with engine.use(60) as uri, await Connection.open("tts", uri) as conn:
            await conn.send(Event("x-voice-add", data={"name": name, "text": text, "rate": RATE, "width": 2,
                                                       "channels": 1}, payload=pcm))
            reply = await conn.recv()
            _LOG.info("voice added: %s", reply.data)
        engine.info = await clients.describe("tts", engine.spec.uri, 10)
        self.app.actions.publish_voices()
        return name
