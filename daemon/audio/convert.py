"""PCM conversion at the audio boundaries, in pure numpy (no scipy: the daemon stays light).

Two directions matter:
- capture -> ASR: whatever the device gives (any rate, width, channel count) becomes
  16 kHz mono s16, the format the ASR engine is sent (:class:`ToAsr`);
- TTS -> playback: s16 mono at the voice's rate becomes float32 frames at the
  device's rate and channel count (:class:`ToDevice`).

Resampling is a polyphase windowed-sinc (Kaiser window) filter evaluated at the exact
rational ratio ``L/M``. Why this and not linear interpolation or an FFT resample:
linear interpolation aliases audibly when going 48 kHz -> 16 kHz (nothing removes the
content above 8 kHz), and an FFT resample needs the whole signal, which a stream never
has. A sinc kernel with ~16 zero crossings per side and beta=8.6 attenuates the stop
band by ~80 dB, which is far below what a speech model or a listener can notice, at a
cost of ~100 multiply-adds per output sample -- trivial at speech rates.

The resampler is stateful and exact for any block split: every output sample is computed
from the same input samples with the same weights in the same order, whatever the
blocks were, so a stream cut into 20 ms callbacks equals the one-shot conversion.
"""
from __future__ import annotations

import math

import numpy as np

from engines.protocol.pcm import pcm_to_float

ASR_RATE = 16_000
_ZERO_CROSSINGS = 16  # per side of the sinc kernel: sets the transition band width
_KAISER_BETA = 8.6  # ~80 dB stop-band attenuation
_ROLLOFF = 0.92  # cutoff as a fraction of the lower Nyquist: leaves room for the transition
_MAX_PHASES = 4096  # above this the rate ratio is odd enough to be a config mistake


def as_float_frames(block: np.ndarray) -> np.ndarray:
    """Any sounddevice block (float or int dtype, 1-D or ``(n, ch)``) as float32 ``(n, ch)``."""
    x = np.asarray(block)
    if x.ndim == 1:
        x = x[:, None]
    if np.issubdtype(x.dtype, np.integer):
        return x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    return x.astype(np.float32, copy=False)


def downmix(frames: np.ndarray) -> np.ndarray:
    """Average the channels of ``(n, ch)`` frames into a mono 1-D float32 array."""
    return frames.mean(axis=1, dtype=np.float32) if frames.shape[1] > 1 else frames[:, 0]


def float_to_s16(x: np.ndarray) -> np.ndarray:
    """Float samples in -1..1 to int16, clipping instead of wrapping around on overs."""
    return np.clip(np.rint(np.asarray(x) * 32768.0), -32768, 32767).astype(np.int16)


def level(x: np.ndarray) -> float:
    """Loudness 0..1 for the tray meter: RMS in dBFS mapped linearly from -60 dB..0 dB.

    A log scale, because a linear RMS of normal speech (~0.05) would barely move a meter.
    """
    frames = as_float_frames(x)
    if frames.size == 0:
        return 0.0
    rms = float(np.sqrt(np.mean(np.square(frames, dtype=np.float64))))
    if rms <= 1e-6:
        return 0.0
    return min(1.0, max(0.0, (20.0 * math.log10(rms) + 60.0) / 60.0))


def _kernel_table(up: int, down: int, taps: int, cutoff: float) -> np.ndarray:
    """Weights ``(up, taps)``: row p holds the kernel for fractional input position ``p/up``."""
    half = taps // 2
    frac = np.arange(up)[:, None] / up
    t = frac + (half - 1) - np.arange(taps)[None, :]  # distance from each tap, in input samples
    span = float(half)  # the window reaches zero at the outermost possible tap distance
    window = np.i0(_KAISER_BETA * np.sqrt(np.clip(1.0 - (t / span) ** 2, 0.0, None)))
    weights = cutoff * np.sinc(cutoff * t) * window / np.i0(_KAISER_BETA)
    return weights / weights.sum(axis=1, keepdims=True)  # unity DC gain at every phase


class Resampler:
    """Streaming mono resampler ``src_rate -> dst_rate`` (polyphase windowed sinc).

    ``process`` returns what can be computed so far (the kernel needs ``taps/2`` samples of
    look-ahead); ``flush`` pads the end with silence and returns the rest, so that a whole
    stream yields ``ceil(n_in * dst / src)`` samples aligned with the input (no delay).
    """

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        if src_rate <= 0 or dst_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {src_rate} -> {dst_rate}")
        g = math.gcd(src_rate, dst_rate)
        self.up, self.down = dst_rate // g, src_rate // g
        if self.up > _MAX_PHASES:
            raise ValueError(
                f"cannot resample {src_rate} Hz -> {dst_rate} Hz: the ratio {self.up}/{self.down} "
                "is too fine; use a standard rate (8000, 16000, 22050, 24000, 44100, 48000)")
        cutoff = min(1.0, self.up / self.down) * (_ROLLOFF if self.up != self.down else 1.0)
        self.taps = 2 * math.ceil(_ZERO_CROSSINGS / cutoff) if self.up != self.down else 2
        self._table = _kernel_table(self.up, self.down, self.taps, cutoff).astype(np.float32)
        half = self.taps // 2
        self._buf = np.zeros(half - 1, dtype=np.float32)  # silence before the stream starts
        self._start = -(half - 1)  # absolute input index of _buf[0]
        self._n = 0  # next output index
        self._n_in = 0

    @property
    def passthrough(self) -> bool:
        return self.up == self.down

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed mono float samples; return the output samples now computable."""
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        self._n_in += x.size
        if self.passthrough:
            self._n += x.size
            return x.copy()
        self._buf = np.concatenate((self._buf, x))
        return self._emit(self._output_limit(self._start + self._buf.size))

    def flush(self) -> np.ndarray:
        """End of stream: return the remaining samples (input padded with silence)."""
        total = -(-self._n_in * self.up // self.down)  # ceil
        if self.passthrough or self._n >= total:
            return np.zeros(0, dtype=np.float32)
        self._buf = np.concatenate((self._buf, np.zeros(self.taps, dtype=np.float32)))
        return self._emit(total)

    def _output_limit(self, end: int) -> int:
        """One past the last output index whose taps all lie before input index ``end``."""
        last_base = end - 1 - self.taps // 2  # base index whose last tap is end-1
        return max(self._n, ((last_base + 1) * self.up - 1) // self.down + 1)

    def _emit(self, n_end: int) -> np.ndarray:
        ns = np.arange(self._n, n_end, dtype=np.int64)
        if ns.size == 0:
            return np.zeros(0, dtype=np.float32)
        base = ns * self.down // self.up
        first = base - (self.taps // 2 - 1) - self._start
        idx = first[:, None] + np.arange(self.taps)[None, :]
        out = (self._buf[idx] * self._table[(ns * self.down) % self.up]).sum(axis=1)
        self._n = n_end
        keep_from = n_end * self.down // self.up - (self.taps // 2 - 1)
        drop = max(0, keep_from - self._start)
        self._buf, self._start = self._buf[drop:], self._start + drop
        return out.astype(np.float32)


class ToAsr:
    """Device blocks (any rate/dtype/channels) -> 16 kHz mono int16, streaming."""

    def __init__(self, src_rate: int) -> None:
        self._rs = Resampler(src_rate, ASR_RATE)

    def process(self, block: np.ndarray) -> np.ndarray:
        return float_to_s16(self._rs.process(downmix(as_float_frames(block))))

    def process_bytes(self, data: bytes, width: int, channels: int) -> np.ndarray:
        return float_to_s16(self._rs.process(downmix(pcm_to_float(data, width, channels))))

    def flush(self) -> np.ndarray:
        return float_to_s16(self._rs.flush())


class ToDevice:
    """TTS PCM (s16 mono by default) at the voice's rate -> float32 ``(n, channels)`` at the device rate."""

    def __init__(self, src_rate: int, dst_rate: int, channels: int = 1) -> None:
        self.src_rate, self.channels = src_rate, channels
        self._rs = Resampler(src_rate, dst_rate)

    def process(self, pcm: bytes, width: int = 2, src_channels: int = 1) -> np.ndarray:
        return self._spread(self._rs.process(downmix(pcm_to_float(pcm, width, src_channels))))

    def flush(self) -> np.ndarray:
        return self._spread(self._rs.flush())

    def _spread(self, mono: np.ndarray) -> np.ndarray:
        return np.repeat(mono[:, None], self.channels, axis=1)


def convert_to_asr(data: bytes, rate: int, width: int, channels: int) -> bytes:
    """One-shot: a whole PCM buffer in any format -> 16 kHz mono s16le bytes."""
    conv = ToAsr(rate)
    head = conv.process_bytes(data, width, channels)
    return np.concatenate((head, conv.flush())).astype("<i2").tobytes()
