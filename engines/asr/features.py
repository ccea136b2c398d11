"""Model inputs without the processor: Whisper log-mel features computed as audio arrives, and the prompt ids.

GLM-ASR's processor pads every window to 30 s, computes 3000 log-mel frames
(STFT, n_fft 400, hop 160, 128 mel bins), then clamps them to 8 units below their
maximum, and renders a chat template around ``<|pad|>`` placeholders, one per 4
encoder frames. Most of that work depends only on audio already received, so
``LogMel`` computes each frame once its 400 samples are in, while the user is still
speaking; at the end of a window only the last frames, the clamp and the scaling
are left. The values are those of WhisperFeatureExtractor's torch path (same torch
ops per frame); tests/engines/test_asr_decode.py checks both against the processor.
"""
from __future__ import annotations

import math

import numpy as np
import torch


class LogMel:
    """The features of one window of at most 30 s of 16 kHz audio, fed from its start."""

    def __init__(self, extractor) -> None:
        self.n_fft, self.hop = extractor.n_fft, extractor.hop_length
        self.n_samples = extractor.n_samples
        self.frames = self.n_samples // self.hop
        self.filters_t = torch.from_numpy(np.asarray(extractor.mel_filters)).float().T.contiguous()
        self.window = torch.hann_window(self.n_fft)
        self.silence = float(torch.tensor(1e-10).log10())  # the log-mel of a frame of zeros
        self.log = torch.empty(self.filters_t.shape[0], self.frames)
        self.done = 0  # frames computed

    def _ready(self, n: int) -> int:
        """Frames whose samples (reflection at the start included) all lie within the first ``n``."""
        half = self.n_fft // 2
        if n <= half:
            return 0
        return max(0, min(self.frames, (n + half - self.n_fft) // self.hop + 1))

    def update(self, audio: np.ndarray) -> None:
        """Compute the frames that the window's audio so far completes."""
        self._compute(audio, audio.size, self._ready(audio.size))

    def finish(self, audio: np.ndarray) -> tuple[torch.Tensor, int]:
        """Features (1, mels, frames) of the window ``audio`` (the audio fed so far, or a prefix of it) and
        the number of frames that hold audio."""
        n = min(audio.size, self.n_samples)
        self.done = min(self.done, self._ready(n))
        last = min(self.frames, math.ceil((n + self.n_fft // 2) / self.hop))  # later frames see only padding
        self._compute(audio, n, last)
        self.log[:, last:] = self.silence
        log = torch.maximum(self.log, self.log.max() - 8.0)
        return ((log + 4.0) / 4.0)[None], min(self.frames, math.ceil(n / self.hop))

    def _compute(self, audio: np.ndarray, n: int, last: int) -> None:
        """Frames [done, last) of the window whose first ``n`` samples are ``audio``."""
        if last <= self.done:
            return
        half = self.n_fft // 2
        index = np.arange(self.done * self.hop - half, (last - 1) * self.hop + self.n_fft - half)
        index = np.abs(index)  # the reflection at the start
        index = np.where(index >= self.n_samples, 2 * (self.n_samples - 1) - index, index)  # and at the end
        signal = np.where(index < n, audio[np.minimum(index, n - 1)], 0.0).astype(np.float32)
        stft = torch.stft(torch.from_numpy(signal), self.n_fft, self.hop, window=self.window, center=False,
                          return_complex=True)
        power = (stft.abs() ** 2).contiguous()
        self.log[:, self.done:last] = torch.clamp(self.filters_t @ power, min=1e-10).log10()
        self.done = last


class Prompt:
    """The token ids of the default transcription request around ``n`` audio placeholders."""

    def __init__(self, processor) -> None:
        probe = processor.apply_transcription_request(np.zeros(16000, dtype=np.float32))
        ids = probe["input_ids"][0].tolist()
        self.audio_id = processor.audio_token_id
        first = ids.index(self.audio_id)
        count = ids.count(self.audio_id)
        self.prefix, self.suffix = ids[:first], ids[first + count:]

    @staticmethod
    def audio_tokens(frames: int) -> int:
        """Placeholders for ``frames`` feature frames: conv (k3 s1), conv (k3 s2), merge 4 (GLM-ASR's encoder)."""
        after_stride = (frames - 1) // 2 + 1
        return (after_stride - 4) // 4 + 1

    def ids(self, frames: int) -> list[int]:
        return self.prefix + [self.audio_id] * self.audio_tokens(frames) + self.suffix
