"""Incremental decoding of codec frames into audio while the talker is still generating.

The 12 Hz speech-tokenizer decoder is causal but has a long receptive field: decoding
only the new frames statelessly pops at every boundary. Either the decode function keeps
the decoder's causal state between calls (``codec.CodecStream``: ``left_context=0``), or
each decode re-runs the last ``left_context`` frames (25 = 2 s, as the package's own
chunked decode does) and keeps only the samples of the new frames. The first chunk is
decoded after very few frames (time to first audio), later ones after more (fewer decoder
calls, same output): ``chunk_frames`` is the schedule.

This module knows nothing of torch: the decode function is injected, so the schedule
and the bookkeeping are tested without a model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np

SAMPLE_RATE = 24000
SAMPLES_PER_FRAME = 1920  # 80 ms at 24 kHz
# Frames per decode: 2 (160 ms) for the first audio, then 4, then 8 (640 ms) from then on.
DEFAULT_SCHEDULE = (2, 4, 8)
# The CUDA-graph path makes a frame in ~20-35 ms: first audio after one frame, then chunks that
# double, so each is ready before the audio already out has played (up to 40 ms per frame,
# ``playback_gaps``), and decoder calls stay few once playback has a lead.
GRAPH_SCHEDULE = (1, 2, 4, 8, 12)
LEFT_CONTEXT = 25

# decode(frames) -> float32 mono audio of len(frames) * SAMPLES_PER_FRAME samples;
# frames is a list of 16-code rows (any sequence type the decode function accepts).
DecodeFn = Callable[[Sequence], np.ndarray]


@dataclass
class FrameDecoder:
    """Collects frames; returns audio for the new ones whenever a chunk is due."""

    decode: DecodeFn
    schedule: tuple[int, ...] = DEFAULT_SCHEDULE
    left_context: int = LEFT_CONTEXT
    samples_per_frame: int = SAMPLES_PER_FRAME
    frames: list = field(default_factory=list)
    emitted: int = 0   # frames (of self.frames) whose audio has been returned
    primed: int = 0    # leading frames that are context only (a cloned voice's reference codes)
    chunks: int = 0
    generated: int = 0  # frames pushed (for logs)

    def prime(self, context: Sequence) -> None:
        """Start from reference frames that give the decoder context but are never returned."""
        tail = list(context)[-self.left_context:] if self.left_context else []
        self.frames = tail + self.frames
        self.primed += len(tail)
        self.emitted += len(tail)

    def due(self) -> int:
        """Frames the next chunk waits for."""
        return chunk_frames(self.chunks, self.schedule)

    def push(self, frame) -> np.ndarray | None:
        """Add one frame; return the audio of the pending frames once a chunk is due."""
        self.frames.append(frame)
        self.generated += 1
        if len(self.frames) - self.emitted >= self.due():
            return self._decode_pending()
        return None

    def flush(self) -> np.ndarray | None:
        """Audio of the frames still pending at the end of the utterance."""
        if len(self.frames) > self.emitted:
            return self._decode_pending()
        return None

    def _decode_pending(self) -> np.ndarray:
        start = max(0, self.emitted - self.left_context)
        audio = np.asarray(self.decode(self.frames[start:]), dtype=np.float32).reshape(-1)
        new = audio[(self.emitted - start) * self.samples_per_frame:]
        self.emitted = len(self.frames)
        self.chunks += 1
        self._forget_old()
        return new

    def _forget_old(self) -> None:
        """Drop frames that can never be context again (long utterances stay O(1) memory)."""
        drop = max(0, self.emitted - self.left_context)
        if drop:
            del self.frames[:drop]
            self.emitted -= drop


def chunk_frames(index: int, schedule: Sequence[int]) -> int:
    """Frames in chunk ``index`` (0-based): the schedule's entry, its last entry from then on."""
    if not schedule or any(n < 1 for n in schedule):
        raise ValueError(f"a chunk schedule is a non-empty list of positive frame counts, got {schedule!r}")
    return schedule[min(index, len(schedule) - 1)]


def playback_gaps(schedule: Sequence[int], frames: int, frame_s: float, decode_s: float = 0.0,
                  audio_s: float = SAMPLES_PER_FRAME / SAMPLE_RATE) -> list[float]:
    """Silences (s) inside an utterance of ``frames`` frames played as soon as each chunk is decoded.

    A frame takes ``frame_s`` to generate and each chunk ``decode_s`` to decode, one after the
    other on one thread; playback starts with the first chunk and stalls whenever the next chunk
    is not ready when the audio runs out.
    """
    gaps: list[float] = []
    made, index, played_until = 0, 0, 0.0
    while made < frames:
        n = min(chunk_frames(index, schedule), frames - made)
        made, index = made + n, index + 1
        ready = made * frame_s + index * decode_s
        if index > 1 and ready > played_until + 1e-9:
            gaps.append(ready - played_until)
        played_until = max(ready, played_until) + n * audio_s
    return gaps


def to_pcm16(audio: np.ndarray) -> bytes:
    """float32 in [-1, 1] to little-endian s16 bytes."""
    clipped = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).round().astype("<i2").tobytes()


def split_pcm(pcm: bytes, samples: int, width: int = 2) -> Iterator[bytes]:
    """Cut PCM into pieces of ``samples`` samples (the wire's small audio-chunks)."""
    step = samples * width
    for offset in range(0, len(pcm), step):
        yield pcm[offset:offset + step]
