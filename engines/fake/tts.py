"""A fake TTS: a tone whose length follows the text, streamed in small chunks.

Each voice has its own pitch, so a test can tell from the audio which voice
spoke. Both the one-shot ``synthesize`` and the streaming
``synthesize-start/chunk/stop`` forms are served; audio is produced in a worker
thread through ``Handler.stream_model`` exactly as a real engine does, so
cancellation and error paths are the real ones.
"""
from __future__ import annotations

import time

import numpy as np
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Attribution, Info, TtsProgram, TtsVoice
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from engines.protocol.errors import BAD_VOICE, UNKNOWN_VOICE, UNSUPPORTED, EngineError
from engines.protocol.voices import (ADDED, NAME_RE, NAME_RULE, OWN_PROGRAM_PREFIX, REMOVED, VoiceAdd, VoiceDone,
                                     VoiceList, VoiceRemove, Voices)
from engines.common.handler import CancelToken, Connection, Engine, Handler
from engines.protocol.chunking import ChunkIntake

from .faults import Faults

RATE = 24000
CHUNK_SAMPLES = RATE * 40 // 1000  # 40 ms chunks
VOICES = {"alto": 440.0, "bass": 220.0, "soprano": 880.0}
DEFAULT_VOICE = "alto"
ATTRIBUTION = Attribution(name="sisyphus", url="https://example.invalid/sisyphus")


def tone(text: str, freq: float, ms_per_char: float) -> np.ndarray:
    seconds = max(0.1, len(text.strip()) * ms_per_char / 1000)
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2")


class FakeTtsEngine(Engine):
    def __init__(self, faults: Faults, chunk_delay: float = 0.0, ms_per_char: float = 20.0) -> None:
        super().__init__()
        self.faults = faults
        self.chunk_delay = chunk_delay
        self.ms_per_char = ms_per_char
        self.cloned: dict[str, float] = {}  # x-voice-add: name -> pitch (kept in memory only)

    def info(self) -> Info:
        self.faults.on_describe()
        voices = [
            TtsVoice(name=name, description=f"fake {name} ({freq:.0f} Hz)", attribution=ATTRIBUTION,
                     installed=True, version="1", languages=["en"])
            for name, freq in VOICES.items()
        ] + [
            TtsVoice(name=name, description=f"cloned voice {name}", attribution=ATTRIBUTION, installed=True,
                     version="1", languages=["en"])
            for name in self.cloned
        ]
        program = TtsProgram(name=f"{OWN_PROGRAM_PREFIX}fake-tts", description="fake TTS for tests",
                             attribution=ATTRIBUTION,
                             installed=True, version="1", voices=voices, supports_synthesize_streaming=True)
        return Info(tts=[program])

    def new_handler(self, connection: Connection) -> Handler:
        return FakeTtsHandler(self, connection)

    def close(self) -> None:
        self.faults.on_stop()

    def generate(self, emit, text: str, voice: str, *, token: CancelToken) -> None:
        """Model thread: emit int16 chunks of the tone for ``text``."""
        freq = self.cloned.get(voice) or VOICES.get(voice, VOICES[DEFAULT_VOICE])
        audio = tone(text, freq, self.ms_per_char)
        for i, start in enumerate(range(0, len(audio), CHUNK_SAMPLES)):
            token.check()
            if i == 1:
                self.faults.mid_stream()
            emit(audio[start:start + CHUNK_SAMPLES])
            if self.chunk_delay:
                time.sleep(self.chunk_delay)


class FakeTtsHandler(Handler):
    engine: FakeTtsEngine

    def __init__(self, engine: FakeTtsEngine, connection: Connection) -> None:
        super().__init__(engine, connection)
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.streaming = False
        self.voice = DEFAULT_VOICE
        self.pending = ChunkIntake()  # the same chunk boundaries as the real engine

    async def handle_event(self, event: Event) -> None:
        if event.type.startswith("x-voice-"):
            await self._voices(event)
        elif SynthesizeStart.is_type(event.type):
            self.reset()
            self.engine.faults.on_request()
            self.streaming = True
            self.voice = _voice_name(SynthesizeStart.from_event(event).voice)
        elif SynthesizeChunk.is_type(event.type) and self.streaming:
            for sentence in self.pending.feed(SynthesizeChunk.from_event(event).text):
                await self._speak(sentence)
        elif SynthesizeStop.is_type(event.type) and self.streaming:
            for sentence in self.pending.finish():
                await self._speak(sentence)
            await self.send(SynthesizeStopped())
            self.reset()
        elif Synthesize.is_type(event.type) and not self.streaming:
            self.engine.faults.on_request()
            request = Synthesize.from_event(event)
            self.voice = _voice_name(request.voice)
            await self._speak(request.text)
            self.reset()

    async def _voices(self, event: Event) -> None:
        """x-voice-add/remove/list, as the real TTS engine answers them (in memory)."""
        if VoiceAdd.is_type(event.type):
            add = VoiceAdd.from_event(event)
            if not add.audio or not NAME_RE.match(add.name):
                raise EngineError(f"x-voice-add needs reference audio and a name of {NAME_RULE}", BAD_VOICE)
            self.engine.cloned[add.name] = 300.0 + len(self.engine.cloned) * 50
            await self.send(VoiceDone(ADDED, {"name": add.name, "text": add.text}))
        elif VoiceRemove.is_type(event.type):
            name = VoiceRemove.from_event(event).name
            if self.engine.cloned.pop(name, None) is None:
                raise EngineError(f"no cloned voice named {name!r}", UNKNOWN_VOICE)
            await self.send(VoiceDone(REMOVED, {"name": name}))
        elif VoiceList.is_type(event.type):
            await self.send(Voices([{"name": n} for n in self.engine.cloned], list(VOICES)))
        else:
            raise EngineError(f"{event.type} is not supported by the fake engine", UNSUPPORTED)

    async def _speak(self, text: str) -> None:
        await self.send(AudioStart(rate=RATE, width=2, channels=1))
        async for samples in self.stream_model(self.engine.generate, text, self.voice):
            await self.send(AudioChunk(rate=RATE, width=2, channels=1, audio=samples.tobytes()))
        await self.send(AudioStop())


def _voice_name(voice) -> str:
    return voice.name if voice is not None and voice.name else DEFAULT_VOICE
