"""Input audio at the boundary: any Wyoming PCM format becomes 16 kHz mono float32.

Clients (our daemon, Home Assistant satellites, a test) send whatever their device
gives: 8 kHz telephony, 44.1/48 kHz desktops, stereo, 8/16/24/32-bit integers. The
model wants 16 kHz mono, so conversion happens once, here, and the rest of the
engine only sees float32 at 16 kHz. Chunks are reduced to mono float32 as they
arrive (so a long stereo 32-bit request costs a quarter of its wire size in
memory), and the one resampling step runs at ``audio-stop`` on the whole request.
"""
from __future__ import annotations

import numpy as np

from engines.protocol.errors import BAD_AUDIO, EngineError

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


def pcm_to_float(data: bytes, width: int) -> np.ndarray:
    """Little-endian integer PCM (8-bit unsigned, 16/24/32-bit signed) to float32 in [-1, 1)."""
    if width == 1:
        return (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if width == 4:
        return (np.frombuffer(data, dtype="<i4").astype(np.float64) / 2147483648.0).astype(np.float32)
    raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
    value = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
    value = np.where(value >= 1 << 23, value - (1 << 24), value)
    return value.astype(np.float32) / float(1 << 23)


def resample(audio: np.ndarray, src_rate: int, dst_rate: int = TARGET_RATE) -> np.ndarray:
    """Band-limited resampling in the frequency domain.

    Truncating the spectrum is an ideal low-pass filter, so downsampling 44.1 kHz
    to 16 kHz does not fold 8-22 kHz energy back into the speech band. One FFT over
    a whole request (at most a few minutes) costs milliseconds to a second.
    """
    if src_rate == dst_rate or audio.size == 0:
        return audio.astype(np.float32, copy=False)
    n_out = int(round(audio.size * dst_rate / src_rate))
    spectrum = np.fft.rfft(audio)  # float32 in, complex64 out on numpy 2: half the memory of float64
    keep = n_out // 2 + 1
    if keep <= spectrum.size:
        spectrum = spectrum[:keep]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(keep - spectrum.size, dtype=spectrum.dtype)])
    out = np.fft.irfft(spectrum, n=n_out) * (n_out / audio.size)
    return out.astype(np.float32)


class AudioBuffer:
    """The audio of one request: bounded in length, kept as mono float32 at the input rate."""

    def __init__(self, rate: int, width: int, channels: int, max_seconds: float) -> None:
        check_format(rate, width, channels)
        self.rate, self.width, self.channels = rate, width, channels
        self.max_samples = int(max_seconds * rate)
        self.max_seconds = max_seconds
        self._parts: list[np.ndarray] = []
        self._samples = 0
        self._remainder = b""  # a frame split across two chunks

    @property
    def seconds(self) -> float:
        return self._samples / self.rate

    def add(self, data: bytes, rate: int, width: int, channels: int) -> None:
        """Append one chunk; its format must match audio-start's."""
        if (rate, width, channels) != (self.rate, self.width, self.channels):
            raise EngineError(
                f"audio-chunk format {rate} Hz/{width} B/{channels} ch differs from audio-start's "
                f"{self.rate} Hz/{self.width} B/{self.channels} ch; send one format per request", BAD_AUDIO)
        frame = self.width * self.channels
        data = self._remainder + data
        usable = len(data) - len(data) % frame
        self._remainder = data[usable:]
        if not usable:
            return
        samples = pcm_to_float(data[:usable], self.width).reshape(-1, self.channels).mean(axis=1)
        if self._samples + samples.size > self.max_samples:
            raise EngineError(
                f"the request has more than {self.max_seconds:g} s of audio; send shorter utterances "
                "or split long recordings into several requests", BAD_AUDIO)
        self._parts.append(samples.astype(np.float32, copy=False))
        self._samples += samples.size

    def to_16k_mono(self) -> np.ndarray:
        """All audio so far as 16 kHz mono float32."""
        audio = np.concatenate(self._parts) if self._parts else np.zeros(0, dtype=np.float32)
        return resample(audio, self.rate, TARGET_RATE)
