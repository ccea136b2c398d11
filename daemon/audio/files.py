"""Audio without devices: a WAV file as the microphone, a WAV file (or nothing) as the speaker.

For ``sisyphus run --mic-file/--speaker-file``: trying sisyphus on a machine
without audio devices, scripted demos, and the daemon-level integration tests.
Playback is paced in real time, so the Speaking state lasts as long as the audio.
"""
from __future__ import annotations

import asyncio
import wave
from pathlib import Path
from typing import Callable

from daemon.speech.clients import Audio

BLOCK = 1600  # 100 ms at 16 kHz


def read_wav_16k(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        if (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) != (16000, 2, 1):
            raise ValueError(f"{path}: the mic file must be 16 kHz mono 16-bit WAV")
        return wav.readframes(wav.getnframes())


class FileMic:
    """Feeds the WAV (once per turn) to ``on_audio`` when a turn starts listening."""

    def __init__(self, path: Path, on_audio: Callable[[bytes], None], realtime: bool = True) -> None:
        self.pcm = read_wav_16k(path)
        self.on_audio = on_audio
        self.realtime = realtime
        self._task: asyncio.Task | None = None

    def preroll(self) -> bytes:
        return b""

    def start_turn(self) -> None:
        if self._task:
            self._task.cancel()
        self._task = asyncio.get_running_loop().create_task(self._feed())

    def close(self) -> None:
        if self._task:
            self._task.cancel()

    async def _feed(self) -> None:
        for start in range(0, len(self.pcm), BLOCK * 2):
            self.on_audio(self.pcm[start:start + BLOCK * 2])
            await asyncio.sleep(0.1 if self.realtime else 0)


class FileSpeaker:
    """Plays nothing (or into a WAV file), paced like a real device."""

    def __init__(self, on_start: Callable[[int], None], on_end: Callable[[int], None], path: Path | None = None) -> None:
        self.on_start, self.on_end = on_start, on_end
        self.path = path
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=64)
        self._generation = 0
        self._started: set[int] = set()
        self._task: asyncio.Task | None = None
        self._wav: wave.Wave_write | None = None

    async def play(self, generation: int, audio: Audio) -> None:
        self._ensure_task()
        await self._queue.put((generation, audio))

    def finish(self, generation: int) -> None:
        self._ensure_task()
        self._queue.put_nowait((generation, None))

    def flush(self, generation: int) -> None:
        self._generation = generation + 1  # everything of this turn and before is stale
        while not self._queue.empty():
            self._queue.get_nowait()

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            generation, audio = await self._queue.get()
            if generation < self._generation:
                continue
            if audio is None:
                self.on_end(generation)
                continue
            if generation not in self._started:
                self._started.add(generation)
                self.on_start(generation)
            self._write(audio)
            await asyncio.sleep(len(audio.data) / (audio.rate * audio.width * audio.channels))

    def _write(self, audio: Audio) -> None:
        if self.path is None:
            return
        if self._wav is None:
            self._wav = wave.open(str(self.path), "wb")
            self._wav.setnchannels(audio.channels)
            self._wav.setsampwidth(audio.width)
            self._wav.setframerate(audio.rate)
        self._wav.writeframes(audio.data)

    def close(self) -> None:
        if self._wav is not None:
            self._wav.close()
            self._wav = None
