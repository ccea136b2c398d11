"""One request's audio as it arrives: converted, heard by the VAD, cut into segments to transcribe.

``add`` takes each audio-chunk; it returns the segments that the chunk closed
(engines/asr/segments.py:live_cut decides where), which the engine transcribes
while the user is still speaking. ``finish`` at audio-stop returns what is left:
the tail, cut into windows of at most 30 s. With ``live`` off nothing closes early
and ``finish`` returns the whole request in windows, as a batch recogniser would.
Pure numpy: the VAD stream and the feature factory are passed in.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .audio import AudioBuffer
from .segments import RATE, VAD_WINDOW, has_speech, live_cut, split_windows


@dataclass
class Segment:
    audio: np.ndarray     # 16 kHz mono float32, at most 30 s
    probs: np.ndarray     # the VAD's speech probability per 512 samples
    features: Any = None  # the model's features, computed as the audio arrived (engines/asr/features.py)

    @property
    def seconds(self) -> float:
        return self.audio.size / RATE

    @property
    def speech(self) -> bool:
        return has_speech(self.probs)


class Utterance:
    def __init__(self, buffer: AudioBuffer, vad_stream: Any, live: bool,
                 new_features: Callable[[], Any] | None = None) -> None:
        self.buffer, self.vad, self.live = buffer, vad_stream, live
        self.new_features = new_features
        self._audio = np.zeros(16 * RATE, dtype=np.float32)
        self.samples = 0
        self.probs = np.zeros(0, dtype=np.float32)
        self.start = 0  # VAD window where the open segment starts
        self.features = new_features() if new_features else None

    @property
    def audio(self) -> np.ndarray:
        return self._audio[:self.samples]

    def add(self, data: bytes, rate: int, width: int, channels: int) -> list[Segment]:
        """One audio-chunk; the segments it closes."""
        self._append(self.buffer.add(data, rate, width, channels))
        closed = []
        while self.live and (cut := live_cut(self.probs, self.start)) is not None:
            closed.append(self._segment(self.start * VAD_WINDOW, cut * VAD_WINDOW, self.features))
            self.start = cut
            self.features = self.new_features() if self.new_features else None
        if self.features is not None:
            self.features.update(self.audio[self.start * VAD_WINDOW:])
        return closed

    def finish(self) -> list[Segment]:
        """At audio-stop: the rest of the audio, in windows of at most 30 s."""
        self._append(self.buffer.finish())
        self.probs = np.concatenate([self.probs, self.vad.finish()])
        begin = self.start * VAD_WINDOW
        windows = split_windows(self.samples - begin, self.probs[self.start:])
        features = self.features if len(windows) == 1 else None
        return [self._segment(begin + a, begin + b, features) for a, b in windows]

    def _append(self, samples: np.ndarray) -> None:
        if self.samples + samples.size > self._audio.size:
            grown = np.zeros(max(2 * self._audio.size, self.samples + samples.size), dtype=np.float32)
            grown[:self.samples] = self.audio
            self._audio = grown
        self._audio[self.samples:self.samples + samples.size] = samples
        self.samples += samples.size
        new = self.vad.push(samples)
        if new.size:
            self.probs = np.concatenate([self.probs, new])

    def _segment(self, begin: int, end: int, features: Any) -> Segment:
        first, last = begin // VAD_WINDOW, -(-end // VAD_WINDOW)
        return Segment(self.audio[begin:end].copy(), self.probs[first:last], features)
