"""Find the model: a local directory, or a Hugging Face repo id fetched into the hub cache.

A user may pass ``--model ~/models/GLM-ASR-Nano-2512`` or ``--model
zai-org/GLM-ASR-Nano-2512``. A repo id is looked up in the local cache first (so
an offline machine that downloaded it once starts without network), then
downloaded with huggingface_hub's progress bars on stderr. Whatever goes wrong
becomes ModelNotFound with the path or id and the way to get the model: the
runner prints it as the fatal line and exits 78, and the supervisor shows it
instead of restarting the engine in a loop.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from engines.common.errors import ModelNotFound

_LOG = logging.getLogger(__name__)
DEFAULT_MODEL = "zai-org/GLM-ASR-Nano-2512"
MODEL_TYPE = "glmasr"  # config.json of the transformers-format checkpoint
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def is_repo_id(spec: str) -> bool:
    """``owner/name`` that is not an existing path."""
    return bool(_REPO_ID.match(spec)) and not Path(spec).exists()


def model_name(spec: str) -> str:
    """The name to advertise: the repo id (also for a Hugging Face cache snapshot dir, which
    `sisyphus models` hands over: ``.../models--org--name/snapshots/<commit>``), or the dir's name."""
    if is_repo_id(spec):
        return spec
    path = Path(spec).expanduser().resolve()
    if path.parent.name == "snapshots" and path.parent.parent.name.startswith("models--"):
        return path.parent.parent.name.removeprefix("models--").replace("--", "/", 1)
    return path.name


def model_version(path: Path) -> str | None:
    """The checkpoint's revision when it comes from the Hugging Face cache (``snapshots/<commit>``)."""
    return path.name if path.parent.name == "snapshots" else None


def resolve(spec: str, revision: str | None = None) -> Path:
    """The local directory holding the model named by ``spec``."""
    if is_repo_id(spec):
        return check_dir(_fetch(spec, revision), spec)
    return check_dir(Path(spec).expanduser(), spec)


def check_dir(path: Path, spec: str) -> Path:
    if not path.exists():
        raise ModelNotFound(
            f"model directory {path} does not exist; pass a directory with config.json and the weights, "
            f"or a Hugging Face repo id such as {DEFAULT_MODEL} to download it")
    if not (path / "config.json").is_file():
        raise ModelNotFound(
            f"{spec}: {path} is not a model directory (it has no config.json); pass the directory that holds "
            "config.json, model*.safetensors and the processor files")
    model_type = _model_type(path / "config.json")
    if model_type != MODEL_TYPE:
        raise ModelNotFound(
            f"{spec}: {path} holds a {model_type!r} model, not GLM-ASR (model_type {MODEL_TYPE!r}); pass a "
            f"transformers-format GLM-ASR such as {DEFAULT_MODEL} (copies downloaded before 27 Dec 2025 use an "
            "older format: download it again)")
    return path


def _model_type(config: Path) -> str | None:
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelNotFound(f"{config} is not readable JSON ({exc}); download the model again") from None
    return data.get("model_type") if isinstance(data, dict) else None


def _fetch(repo_id: str, revision: str | None) -> Path:
    from huggingface_hub import constants, snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:  # not in the cache (LocalEntryNotFoundError and friends): download below
        pass
    how = (f"download it once with `hf download {repo_id}` (package huggingface_hub) on a machine with "
           f"internet access, or pass --model /path/to/a/copy")
    if constants.HF_HUB_OFFLINE:
        raise ModelNotFound(
            f"model {repo_id!r} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and HF_HUB_OFFLINE "
            f"is set; unset HF_HUB_OFFLINE to let the engine download it, or {how}")
    _LOG.info("downloading %s from the Hugging Face Hub into %s", repo_id, constants.HF_HUB_CACHE)
    try:
        return Path(snapshot_download(repo_id, revision=revision))
    except Exception as exc:  # network down, repo gone, gated, disk full: all need the user
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        raise ModelNotFound(f"model {repo_id!r} could not be downloaded ({reason}); {how}") from None
