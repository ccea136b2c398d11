"""Audio without devices: a PCM WAV file as the microphone, a WAV file (or nothing) as the speaker.

For ``sisyphus run --mic-file/--speaker-file``: trying sisyphus on a machine
without audio devices, scripted demos, and the daemon-level integration tests.
Playback is paced in real time, so the Speaking state lasts as long as the audio.
"""
from __future__ import annotations

import asyncio
import logging
import os
import wave
from pathlib import Path
from typing import BinaryIO, Callable

from daemon.speech.clients import Audio

from .convert import convert_to_asr
from .wavfile import read_wav

_LOG = logging.getLogger(__name__)
BLOCK = 1600  # 100 ms at 16 kHz
QUEUE_CHUNKS = 64  # audio chunks queued ahead of the (real-time paced) writer


def read_mic_wav(path: Path) -> bytes:
    """Any PCM WAV (rate, 8-32 bit, channels) as 16 kHz mono s16, converted like the microphone path.

    ValueError (WavError) says what is wrong with the file and what to do."""
    wav = read_wav(path, "--mic-file")
    if not wav.data:
        raise ValueError(f"--mic-file {path}: the WAV file holds no audio")
    return convert_to_asr(wav.data, wav.rate, wav.width, wav.channels)


def check_speaker_file(path: Path) -> None:
    """Refuse at start a --speaker-file that could never be written (ValueError says why and what to do)."""
    folder = path.parent
    if path.is_dir():
        raise ValueError(f"--speaker-file {path}: is a folder; name a WAV file, e.g. {path / 'reply.wav'}")
    if not folder.is_dir():
        raise ValueError(f"--speaker-file {path}: the folder {folder} does not exist; create it "
                         f"(mkdir -p {folder}) or name a file in an existing folder")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"--speaker-file {path}: the folder {folder} is not writable; name a file in a "
                         "folder you can write to")


class FileMic:
    """Feeds the WAV (once per turn) to ``on_audio`` when a turn starts listening.

    A file replaced between turns is read again at the next turn (a bad one is logged and
    the previous audio kept), so a script can ask one running daemon several questions.
    """

    def __init__(self, path: Path, on_audio: Callable[[bytes], None], realtime: bool = True) -> None:
        self.path = path
        self.pcm, self._stamp = read_mic_wav(path), _stamp(path)
        self.on_audio = on_audio
        self.realtime = realtime
        self._task: asyncio.Task | None = None

    def preroll(self) -> bytes:
        return b""

    def start_turn(self) -> None:
        if self._task:
            self._task.cancel()
        self._reread()
        self._task = asyncio.get_running_loop().create_task(self._feed())

    def close(self) -> None:
        if self._task:
            self._task.cancel()

    def _reread(self) -> None:
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self.pcm = read_mic_wav(self.path)
        except ValueError as exc:
            _LOG.warning("%s; the previous mic file audio is used", exc)

    async def _feed(self) -> None:
        for start in range(0, len(self.pcm), BLOCK * 2):
            self.on_audio(self.pcm[start:start + BLOCK * 2])
            await asyncio.sleep(0.1 if self.realtime else 0)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


class FileSpeaker:
    """Plays nothing (or into a WAV file), paced like a real device.

    A write that fails (the folder went away, the disk is full) is reported once to
    ``on_error`` and the turn goes on without the file, so it still ends; the next turn
    tries the file again."""

    def __init__(self, on_start: Callable[[int], None], on_end: Callable[[int], None], path: Path | None = None,
                 on_error: Callable[[Exception], None] | None = None) -> None:
        self.on_start, self.on_end, self.on_error = on_start, on_end, on_error
        self.path = path
        self._failed = -1  # the generation whose write failed: no more tries in that turn
        # Unbounded queue, bounded audio: play() waits for room (back-pressure on the TTS
        # stream) while the end-of-turn marker always goes in, however long the reply.
        self._queue: asyncio.Queue = asyncio.Queue()
        self._room = asyncio.Semaphore(QUEUE_CHUNKS)
        self._generation = 0
        self._started: set[int] = set()
        self._task: asyncio.Task | None = None
        self._wav: wave.Wave_write | None = None
        self._out: BinaryIO | None = None

    async def play(self, generation: int, audio: Audio) -> None:
        self._ensure_task()
        await self._room.acquire()
        self._queue.put_nowait((generation, audio))

    def finish(self, generation: int) -> None:
        self._ensure_task()
        self._queue.put_nowait((generation, None))

    def flush(self, generation: int) -> None:
        self._generation = generation + 1  # everything of this turn and before is stale
        while not self._queue.empty():
            self._taken(self._queue.get_nowait()[1])

    def _taken(self, audio: Audio | None) -> None:
        if audio is not None:
            self._room.release()

    def _ensure_task(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            generation, audio = await self._queue.get()
            self._taken(audio)
            if generation < self._generation:
                continue
            if audio is None:
                self.on_end(generation)
                continue
            if generation not in self._started:
                self._started.add(generation)
                self.on_start(generation)
            self._write(generation, audio)
            await asyncio.sleep(len(audio.data) / (audio.rate * audio.width * audio.channels))

    def _write(self, generation: int, audio: Audio) -> None:
        if self.path is None or generation == self._failed:
            return
        try:
            if self._wav is None:
                # opened here, not by wave.open(name): a failed open there also logs an error at exit
                self._out = open(self.path, "wb")
                self._wav = wave.open(self._out, "wb")
                self._wav.setnchannels(audio.channels)
                self._wav.setsampwidth(audio.width)
                self._wav.setframerate(audio.rate)
            self._wav.writeframes(audio.data)
        except (OSError, wave.Error) as exc:
            self._failed = generation
            self._wav = None  # a half-open writer would only fail again at close
            if self._out is not None:
                self._out.close()
                self._out = None
            _LOG.error("--speaker-file %s: %s", self.path, exc)
            if self.on_error is not None:
                self.on_error(OSError(f"--speaker-file {self.path}: cannot write it ({exc}); this reply is "
                                      "not saved"))

    def close(self) -> None:
        wav, out, self._wav, self._out = self._wav, self._out, None, None
        try:
            if wav is not None:
                wav.close()  # writes the header's lengths
        finally:
            if out is not None:  # wave closes only the files it opened itself
                out.close()
