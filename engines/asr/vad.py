"""Silero VAD v6 through onnxruntime: one speech probability per 32 ms of 16 kHz audio.

LLM-based ASR invents text for silence and noise ("Thank you.", "嗯。"), so the
engine asks this small model first and skips GLM-ASR when nobody spoke. The ONNX
file is the one the faster-whisper wheel ships (``faster_whisper/assets/
silero_vad_v6.onnx``, MIT); the installer extracts it into the venv (see
installer/fixups.py:asr) so neither faster-whisper nor its CTranslate2 runtime
is installed. That export takes a batch of windows, each 64 samples of context
followed by 512 new samples, and carries the LSTM state across the batch.
"""
from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

import numpy as np

from engines.common.errors import ModelNotFound

from .segments import VAD_WINDOW

_LOG = logging.getLogger(__name__)
FILENAME = "silero_vad_v6.onnx"
CONTEXT = 64
BATCH = 10000  # windows per session call (5 minutes of audio)


def installed_path() -> Path:
    """Where installer/fixups.py:asr puts the model inside the venv."""
    return Path(sys.prefix) / "share" / "sisyphus" / FILENAME


def find_model(explicit: str | None = None) -> Path:
    """The VAD model file: ``--vad-model``, the venv copy, or a faster-whisper install."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ModelNotFound(f"--vad-model {explicit}: no such file; pass the path of {FILENAME}")
        return path
    candidates = [installed_path()]
    spec = importlib.util.find_spec("faster_whisper")  # finds the package without importing CTranslate2
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "assets" / FILENAME for p in spec.submodule_search_locations]
    for path in candidates:
        if path.is_file():
            return path
    raise ModelNotFound(
        f"the Silero VAD model {FILENAME} is missing (looked at {', '.join(map(str, candidates))}); "
        f"repair the engine venv with `python -m installer.venvs asr {sys.prefix} --upgrade`, "
        "or pass --vad-model PATH")


class SileroVad:
    """A loaded Silero VAD session. Stateless between calls: each call starts a fresh LSTM state."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1  # tiny model; more threads only add overhead
        options.log_severity_level = 4
        self.path = path
        self.session = onnxruntime.InferenceSession(str(path), sess_options=options,
                                                    providers=["CPUExecutionProvider"])

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability of each 512-sample window of 16 kHz mono float32 audio."""
        stream = self.stream()
        probs = stream.push(audio)
        return np.concatenate([probs, stream.finish()])

    def stream(self) -> VadStream:
        return VadStream(self.session)


class VadStream:
    """Probabilities of audio that arrives in pieces: the same as one call over the whole of it."""

    def __init__(self, session) -> None:
        self.session = session
        self.h = np.zeros((1, 1, 128), dtype=np.float32)
        self.c = np.zeros((1, 1, 128), dtype=np.float32)
        self.context = np.zeros(CONTEXT, dtype=np.float32)
        self.pending = np.zeros(0, dtype=np.float32)

    def push(self, audio: np.ndarray) -> np.ndarray:
        """Probabilities of the 512-sample windows completed by ``audio``."""
        data = np.concatenate([self.pending, audio.astype(np.float32, copy=False)])
        whole = data.size - data.size % VAD_WINDOW
        self.pending = data[whole:]
        if not whole:
            return np.zeros(0, dtype=np.float32)
        windows = data[:whole].reshape(-1, VAD_WINDOW)
        context = np.empty((windows.shape[0], CONTEXT), dtype=np.float32)
        context[0] = self.context
        context[1:] = windows[:-1, -CONTEXT:]
        self.context = windows[-1, -CONTEXT:].copy()
        batch = np.concatenate([context, windows], axis=1)
        out = []
        for i in range(0, batch.shape[0], BATCH):
            probs, self.h, self.c = self.session.run(None, {"input": batch[i:i + BATCH], "h": self.h, "c": self.c})
            out.append(np.asarray(probs, dtype=np.float32).reshape(-1))
        return np.concatenate(out)

    def finish(self) -> np.ndarray:
        """The probability of the last, partial window (padded with silence), if any."""
        if not self.pending.size:
            return np.zeros(0, dtype=np.float32)
        return self.push(np.zeros(VAD_WINDOW - self.pending.size, dtype=np.float32))
