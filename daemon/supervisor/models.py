"""Where the gpu profile's models are: a configured local path, a pulled copy, or a hub id.

The one home of "local model dir or hub id" on the daemon side. ``sisyphus models pull``
(installer/models.py) downloads into ``model_dir``; the profile hands the engines
what ``resolve`` says.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from daemon import paths

ASR_MODEL = "zai-org/GLM-ASR-Nano-2512"
TTS_MODEL = "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice"
TTS_BASE_MODEL = "Qwen/Qwen3-TTS-12Hz-1.7B-Base"
# (settings section, key, default hub id): the three models the gpu profile loads.
ROLES = (("asr", "model", ASR_MODEL), ("tts", "model", TTS_MODEL), ("tts", "base_model", TTS_BASE_MODEL))
MANIFEST, COMPLETE = "manifest.json", "complete"


@dataclass(frozen=True)
class Wanted:
    """One model as the settings name it: a hub id to download, or a local path used as it is."""

    section: str
    key: str
    repo_id: str
    local: str = ""

    @property
    def setting(self) -> str:
        return f"[{self.section}] {self.key}"


def is_local(value: str) -> bool:
    """True when a model setting names an existing directory or file rather than a hub id."""
    return bool(value) and Path(value).expanduser().exists()


def wanted(settings=None) -> list[Wanted]:
    """The three models, honouring a configured hub id (downloaded instead) or path (used as it is)."""
    out = []
    for section, key, default in ROLES:
        value = getattr(getattr(settings, section), key) if settings is not None else ""
        local = value if is_local(value) else ""
        out.append(Wanted(section, key, value if value and not local else default, local))
    return out


def models_dir(override: Path | None = None) -> Path:
    return override or paths.cache_dir() / "models"


def model_dir(root: Path, repo_id: str) -> Path:
    return root / repo_id.replace("/", "--")


def resolve(default_id: str, configured: str = "", root: Path | None = None) -> str:
    """What an engine should load for a model setting: a configured path as it is, else the
    downloaded copy of the configured (or default) hub id, else that hub id."""
    if is_local(configured):
        return configured
    repo_id = configured or default_id
    target = model_dir(models_dir(root), repo_id)
    return str(target) if (target / COMPLETE).exists() else repo_id
