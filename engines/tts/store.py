"""The voices directory: one sub-directory per cloned voice.

    <voices-dir>/<name>/audio.wav      reference audio (mono s16)
    <voices-dir>/<name>/voice.json     {"name", "text", "rate", "seconds"}
    <voices-dir>/<name>/prompt-<key>.pt  clone prompt cached by the engine (per model + text)

Every change is atomic: a voice is built in a hidden sibling directory and renamed
into place, so a crash or a failed add never leaves half a voice and never loses the
voice it was replacing. Names are a closed alphabet, so no name can leave the dir.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.protocol.errors import BAD_VOICE, UNKNOWN_VOICE, EngineError
from engines.protocol.voices import NAME_RE, NAME_RULE

from . import reference



@dataclass(frozen=True)
class Voice:
    name: str
    path: Path
    text: str = ""  # transcript of the reference; "" = speaker embedding only (x-vector)
    rate: int = 24000
    seconds: float = 0.0

    @property
    def audio_path(self) -> Path:
        return self.path / "audio.wav"

    def prompt_path(self, key: str) -> Path:
        return self.path / f"prompt-{key}.pt"

    def describe(self) -> dict:
        return {"name": self.name, "text": self.text, "seconds": round(self.seconds, 2)}


def default_dir() -> Path:
    """Per-user data dir without platformdirs (the engine venv does not have it)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "sisyphus" / "voices"


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise EngineError(f"bad voice name {name!r}: {NAME_RULE}", BAD_VOICE)
    return name


class VoiceStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _dir(self, name: str) -> Path:
        path = self.root / check_name(name)
        if path.resolve().parent != self.root.resolve():  # belt and braces: the regex already forbids it
            raise EngineError(f"voice name {name!r} leaves the voices dir", BAD_VOICE)
        return path

    def list(self) -> list[Voice]:
        if not self.root.is_dir():
            return []
        voices = (self._load(p) for p in sorted(self.root.iterdir()) if NAME_RE.match(p.name) and p.is_dir())
        return [v for v in voices if v is not None]

    def get(self, name: str) -> Voice | None:
        return self._load(self._dir(name)) if NAME_RE.match(name or "") else None

    def require(self, name: str) -> Voice:
        voice = self.get(name)
        if voice is None:
            raise EngineError(f"no cloned voice named {name!r} in {self.root}", UNKNOWN_VOICE)
        return voice

    def _load(self, path: Path) -> Voice | None:
        try:
            meta = json.loads((path / "voice.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # not a voice (or one being written): invisible
        if not (path / "audio.wav").is_file():
            return None
        return Voice(path.name, path, str(meta.get("text") or ""), int(meta.get("rate", 24000)),
                     float(meta.get("seconds", 0.0)))

    def add(self, name: str, audio: np.ndarray, rate: int, text: str = "", replace: bool = False) -> Voice:
        """Validate and store a voice; the old one (if replacing) survives any failure."""
        target = self._dir(name)
        audio = reference.validate(np.asarray(audio, dtype=np.float32), rate)
        if target.exists() and not replace:
            raise EngineError(f"a voice named {name!r} exists; remove it first or add with replace", BAD_VOICE)
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".incoming-{name}-", dir=self.root))
        try:
            reference.write_wav(staging / "audio.wav", audio, rate)
            _write_json(staging / "voice.json", _meta(name, text, rate, len(audio) / rate))
            self._swap_in(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.require(name)

    def _swap_in(self, staging: Path, target: Path) -> None:
        if not target.exists():
            os.rename(staging, target)
            return
        trash = Path(tempfile.mkdtemp(prefix=f".removed-{target.name}-", dir=self.root))
        os.rename(target, trash / "voice")
        try:
            os.rename(staging, target)
        except OSError:
            os.rename(trash / "voice", target)  # put the old voice back
            raise
        finally:
            shutil.rmtree(trash, ignore_errors=True)

    def remove(self, name: str) -> None:
        voice = self.require(name)
        trash = Path(tempfile.mkdtemp(prefix=f".removed-{name}-", dir=self.root))
        os.rename(voice.path, trash / "voice")
        shutil.rmtree(trash, ignore_errors=True)

    def set_text(self, name: str, text: str) -> Voice:
        """Set the transcript (e.g. from ASR later); cached prompts are stale afterwards."""
        voice = self.require(name)
        _write_json(voice.path / "voice.json", _meta(name, text, voice.rate, voice.seconds))
        for stale in voice.path.glob("prompt-*.pt"):
            stale.unlink(missing_ok=True)
        return self.require(name)

    def load_audio(self, voice: Voice) -> tuple[np.ndarray, int]:
        return reference.read_file(voice.audio_path)


def _meta(name: str, text: str, rate: int, seconds: float) -> dict:
    if not isinstance(text, str):
        raise EngineError(f"voice text must be a string, got {type(text).__name__}", BAD_VOICE)
    return {"name": name, "text": text.strip(), "rate": rate, "seconds": round(seconds, 3)}


def _write_json(path: Path, data: dict) -> None:
    """Write-then-rename, so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, ensure_ascii=False, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
