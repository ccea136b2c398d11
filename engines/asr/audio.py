"""Input audio at the boundary: any Wyoming PCM format becomes 16 kHz mono float32.

Clients (our daemon, Home Assistant satellites, a test) send whatever their device
gives: 8 kHz telephony, 44.1/48 kHz desktops, stereo, 8/16/24/32-bit integers. The
model wants 16 kHz mono, so conversion happens once, here, and the rest of the
engine only sees float32 at 16 kHz. Chunks are reduced to mono and resampled as
they arrive (a stream resampler, so the result does not depend on how the client
cut its chunks), which lets the engine listen while the user is still speaking.
"""
from __future__ import annotations

import numpy as np

from engines.protocol.errors import BAD_AUDIO, EngineError
from engines.protocol.pcm import PcmStream

TARGET_RATE = 16000
MIN_RATE, MAX_RATE = 1000, 384000
MAX_CHANNELS = 32


def check_format(rate: int, width: int, channels: int) -> None:
    """Refuse formats we can't read, naming the field and what is accepted."""
    if not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
        raise EngineError(f"audio rate {rate!r} Hz is not supported; send {MIN_RATE}..{MAX_RATE} Hz", BAD_AUDIO)
    if width not in (1, 2, 3, 4):
        raise EngineError(f"audio width {width!r} is not supported; send 1, 2, 3 or 4 bytes per sample", BAD_AUDIO)
    if not isinstance(channels, int) or not 1 <= channels <= MAX_CHANNELS:
        raise EngineError(f"audio channels {channels!r} is not supported; send 1..{MAX_CHANNELS}", BAD_AUDIO)


class Resampler:
    """Band-limited resampling of a stream: the output is the same however the input is chunked.

    Each output sample is a Blackman-windowed sinc over the input around its time
    (cut-off just below the lower Nyquist frequency), so 44.1 kHz input loses its
    8-22 kHz content instead of folding it into the speech band. Output is produced
    as soon as the input it needs has arrived; ``push(final=True)`` pads the end with
    silence and returns the rest (``round(n * dst / src)`` samples in all).
    """

    ZERO_CROSSINGS = 16

    def __init__(self, src_rate: int, dst_rate: int = TARGET_RATE) -> None:
        self.step = src_rate / dst_rate  # input samples per output sample
        self.cutoff = 0.95 * min(1.0, dst_rate / src_rate)
        self.half = int(np.ceil(self.ZERO_CROSSINGS / self.cutoff))
        self.taps = np.arange(-self.half + 1, self.half + 1)
        self._input = np.zeros(0, dtype=np.float32)
        self._offset = 0    # input index of _input[0]
        self._received = 0  # input samples so far
        self._produced = 0  # output samples so far

    def push(self, audio: np.ndarray, final: bool = False) -> np.ndarray:
        if self.step == 1.0:
            return audio.astype(np.float32, copy=False)
        self._input = np.concatenate([self._input, audio.astype(np.float32, copy=False)])
        self._received += audio.size
        if final:
            count = int(round(self._received / self.step))
            data = np.concatenate([self._input, np.zeros(self.half + 1, dtype=np.float32)])
        else:  # output k needs input up to floor(k * step) + half
            count = max(self._produced, int(np.ceil((self._received - self.half) / self.step)))
            data = self._input
        k = np.arange(self._produced, count)
        t = k * self.step
        base = np.floor(t).astype(np.int64)
        index = base[:, None] + self.taps[None, :]
        x = (t - base)[:, None] - self.taps[None, :]  # distance in input samples from each tap
        weights = self.cutoff * np.sinc(self.cutoff * x) * _blackman(x / (self.half + 1))
        weights /= weights.sum(axis=1, keepdims=True)
        local = index - self._offset
        samples = np.where(index >= 0, data[np.clip(local, 0, data.size - 1)], 0.0)
        out = (weights * samples).sum(axis=1).astype(np.float32)
        self._produced = count
        drop = max(0, int(np.floor(count * self.step)) - self.half - self._offset)
        self._input, self._offset = self._input[drop:], self._offset + drop
        return out


def _blackman(x: np.ndarray) -> np.ndarray:
    """The Blackman window over x in [-1, 1] (0 outside)."""
    w = 0.42 + 0.5 * np.cos(np.pi * x) + 0.08 * np.cos(2 * np.pi * x)
    return np.where(np.abs(x) < 1, w, 0.0)


def resample(audio: np.ndarray, src_rate: int, dst_rate: int = TARGET_RATE) -> np.ndarray:
    """All of ``audio`` at ``dst_rate`` in one call."""
    if src_rate == dst_rate or audio.size == 0:
        return audio.astype(np.float32, copy=False)
    return Resampler(src_rate, dst_rate).push(audio, final=True)


class AudioBuffer:
    """The audio of one request: bounded in length, converted to 16 kHz mono float32 as it arrives."""

    def __init__(self, rate: int, width: int, channels: int, max_seconds: float) -> None:
        check_format(rate, width, channels)
        self.rate, self.width, self.channels = rate, width, channels
        self.max_samples = int(max_seconds * rate)
        self.max_seconds = max_seconds
        self._resampler = Resampler(rate, TARGET_RATE)
        self._samples = 0
        self._pcm = PcmStream(width, channels)  # keeps a frame split across two chunks

    @property
    def seconds(self) -> float:
        return self._samples / self.rate

    def add(self, data: bytes, rate: int, width: int, channels: int) -> np.ndarray:
        """Take one chunk (its format must match audio-start's); return the new 16 kHz samples."""
        if (rate, width, channels) != (self.rate, self.width, self.channels):
            raise EngineError(
                f"audio-chunk format {rate} Hz/{width} B/{channels} ch differs from audio-start's "
                f"{self.rate} Hz/{self.width} B/{self.channels} ch; send one format per request", BAD_AUDIO)
        samples = self._pcm.feed(data).mean(axis=1, dtype=np.float32)
        if not samples.size:
            return np.zeros(0, dtype=np.float32)
        if self._samples + samples.size > self.max_samples:
            raise EngineError(
                f"the request has more than {self.max_seconds:g} s of audio; send shorter utterances "
                "or split long recordings into several requests", BAD_AUDIO)
        self._samples += samples.size
        return self._resampler.push(samples.astype(np.float32, copy=False))

    def finish(self) -> np.ndarray:
        """The last 16 kHz samples, at ``audio-stop``."""
        return self._resampler.push(np.zeros(0, dtype=np.float32), final=True)
