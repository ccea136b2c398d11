"""Where the gpu profile's models are: a configured local path, the Hugging Face cache, or a hub id.

The one home of "local model dir or hub id" on the daemon side. ``sisyphus models pull``
(installer/models.py) downloads into the standard Hugging Face cache; the profile hands the
engines what ``resolve`` says. Look-ups read the cache only, never the network;
huggingface_hub is imported only when a model is looked up.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ASR_MODEL = "zai-org/GLM-ASR-Nano-2512"
TTS_MODEL = "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice"
TTS_BASE_MODEL = "Qwen/Qwen3-TTS-12Hz-1.7B-Base"
# (settings section, key, default hub id): the three models the gpu profile loads.
ROLES = (("asr", "model", ASR_MODEL), ("tts", "model", TTS_MODEL), ("tts", "base_model", TTS_BASE_MODEL))
# The git revision pulled for each model; None is the repository's main branch.
REVISIONS: dict[str, str | None] = {}


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


def hub_cache(root: Path | None = None) -> Path:
    """The cache folder used: ``root`` when given, else huggingface_hub's (HF_HUB_CACHE, HF_HOME)."""
    if root is not None:
        return root
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def state(repo_id: str, root: Path | None = None) -> tuple[str, Path | None]:
    """("complete", snapshot dir) | ("partial", None) | ("missing", None), from the cache alone."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import IncompleteSnapshotError, LocalEntryNotFoundError

    try:
        found = Path(snapshot_download(repo_id, revision=REVISIONS.get(repo_id), cache_dir=root,
                                       local_files_only=True))
    except IncompleteSnapshotError:  # an interrupted pull: `models pull` resumes it
        return "partial", None
    except LocalEntryNotFoundError:
        return "missing", None
    # Every model we load has a config.json at its root; without it the snapshot is not usable.
    return ("complete", found) if (found / "config.json").is_file() else ("partial", None)


def cached(repo_id: str, root: Path | None = None) -> Path | None:
    """The complete snapshot of ``repo_id`` in the cache, else None; never touches the network."""
    return state(repo_id, root)[1]


def resolve(default_id: str, configured: str = "", root: Path | None = None) -> str:
    """What an engine should load for a model setting: a configured path as it is, else the cached
    snapshot dir of the configured (or default) hub id, else that hub id (the engine fetches it)."""
    if is_local(configured):
        return configured
    repo_id = configured or default_id
    found = cached(repo_id, root)
    return str(found) if found is not None else repo_id
