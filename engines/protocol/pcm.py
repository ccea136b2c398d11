"""PCM bytes to float samples: the one decoder both sides of the engine boundary use.

Widths follow Wyoming/WAV conventions: 1 = unsigned 8 bit, 2 = s16, 3 = s24, 4 = s32, all
little-endian and interleaved. Every width maps full scale to -1..1 by the same rule
(divide by 2**(bits-1)), so 0.5 is 0.5 whatever the client sent. A stream's chunks need not
end on a frame boundary (a Wyoming client may cut them anywhere): :class:`PcmStream` keeps
the partial frame for the next chunk. numpy is the only dependency beyond the standard
library; every venv that decodes audio (the app, the ASR and TTS engines) has it.
"""
from __future__ import annotations

import numpy as np

WIDTHS = (1, 2, 3, 4)


def check_layout(width: int, channels: int) -> None:
    if width not in WIDTHS:
        raise ValueError(f"unsupported sample width {width} bytes: use 1, 2, 3 or 4")
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")


def pcm_to_float(data: bytes, width: int, channels: int) -> np.ndarray:
    """Decode whole frames of PCM into float32 ``(n, channels)`` in -1..1 (ValueError when not whole)."""
    check_layout(width, channels)
    frame = width * channels
    if len(data) % frame:
        raise ValueError(f"PCM length {len(data)} is not a multiple of the frame size {frame}")
    if width == 1:
        samples = (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 3:
        b = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] << 8) | (b[:, 1] << 16) | (b[:, 2] << 24)  # the sign lands in bit 31
        samples = ints.astype(np.float32) / 2**31
    else:
        dtype = np.dtype("<i2") if width == 2 else np.dtype("<i4")
        samples = np.frombuffer(data, dtype=dtype).astype(np.float32) / float(2 ** (8 * width - 1))
    return samples.reshape(-1, channels)


def pcm_to_mono(data: bytes, width: int, channels: int) -> np.ndarray:
    """Whole frames of PCM as 1-D float32 mono (the channels averaged)."""
    frames = pcm_to_float(data, width, channels)
    return frames.mean(axis=1, dtype=np.float32) if channels > 1 else frames[:, 0]


class PcmStream:
    """Decodes a stream cut into chunks of any size: a frame split across two chunks is kept for the next."""

    def __init__(self, width: int, channels: int) -> None:
        check_layout(width, channels)
        self.width, self.channels = width, channels
        self.frame = width * channels
        self.pending = b""  # the start of a frame the next chunk completes

    def feed(self, data: bytes) -> np.ndarray:
        """The whole frames ``data`` completes, as float32 ``(n, channels)``."""
        data = self.pending + data
        usable = len(data) - len(data) % self.frame
        self.pending = data[usable:]
        return pcm_to_float(data[:usable], self.width, self.channels)
