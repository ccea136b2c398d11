"""A fake ASR: answers with a transcript derived from the audio it got.

Silence gives an empty transcript (like the real engine's VAD gate); otherwise
the ``--transcript`` text, or "audio of N milliseconds". Partial results stream as
transcript-start/chunk/stop, one word at a time, then the final transcript.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import AsrModel, AsrProgram, Attribution, Info

from engines.protocol.errors import BAD_AUDIO, EngineError
from engines.protocol.pcm import pcm_to_mono
from engines.common.handler import Connection, Engine, Handler

from .faults import Faults

SILENCE_RMS = 100.0 / 32768  # 100 s16 units: well below speech, above dither
ATTRIBUTION = Attribution(name="sisyphus", url="https://example.invalid/sisyphus")


class FakeAsrEngine(Engine):
    def __init__(self, faults: Faults, transcript: str = "", transcript_file: str = "") -> None:
        super().__init__()
        self.faults = faults
        self.transcript = transcript
        self.transcript_file = transcript_file  # a test changes what is "said" between turns

    def info(self) -> Info:
        self.faults.on_describe()
        model = AsrModel(name="fake-asr", description="deterministic fake ASR", attribution=ATTRIBUTION,
                         installed=True, version="1", languages=["en"])
        program = AsrProgram(name="sisyphus-fake-asr", description="fake ASR for tests", attribution=ATTRIBUTION,
                             installed=True, version="1", models=[model], supports_transcript_streaming=True)
        return Info(asr=[program])

    def new_handler(self, connection: Connection) -> Handler:
        return FakeAsrHandler(self, connection)

    def close(self) -> None:
        self.faults.on_stop()


class FakeAsrHandler(Handler):
    engine: FakeAsrEngine

    def __init__(self, engine: FakeAsrEngine, connection: Connection) -> None:
        super().__init__(engine, connection)
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.audio: list[np.ndarray] = []
        self.rate = 16000
        self.started = False

    async def handle_event(self, event: Event) -> None:
        if Transcribe.is_type(event.type):
            self.reset()
        elif AudioStart.is_type(event.type):
            self.engine.faults.on_request()
            self.rate = AudioStart.from_event(event).rate
            self.started = True
        elif AudioChunk.is_type(event.type):
            self.engine.faults.mid_stream()
            chunk = AudioChunk.from_event(event)
            if chunk.width != 2:
                raise EngineError(f"fake ASR takes 16-bit audio, got width {chunk.width}", BAD_AUDIO)
            self.audio.append(pcm_to_mono(chunk.audio, chunk.width, chunk.channels))
        elif AudioStop.is_type(event.type):
            await self._answer()
            self.reset()

    def _text(self) -> str:
        audio = np.concatenate(self.audio) if self.audio else np.zeros(0)
        if audio.size == 0 or float(np.sqrt(np.mean(audio**2))) < SILENCE_RMS:
            return ""
        if self.engine.transcript_file:
            return Path(self.engine.transcript_file).read_text(encoding="utf-8").strip()
        return self.engine.transcript or f"audio of {round(1000 * audio.size / self.rate)} milliseconds"

    async def _answer(self) -> None:
        text = self._text()
        if text:
            await self.send(TranscriptStart())
            words = text.split(" ")
            for i, word in enumerate(words):
                await self.send(TranscriptChunk(text=word if i == 0 else " " + word))
        await self.send(Transcript(text=text))  # the final transcript before transcript-stop, as the real engine
        if text:
            await self.send(TranscriptStop())
