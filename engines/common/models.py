"""Find a model: a local directory, or a Hugging Face repo id fetched into the hub cache.

A user may pass ``--model ~/models/GLM-ASR-Nano-2512`` or ``--model
zai-org/GLM-ASR-Nano-2512``. A repo id is looked up in the local cache first (so
an offline machine that downloaded it once starts without network), then
downloaded with huggingface_hub's progress bars on stderr. Whatever goes wrong
becomes ModelNotFound with the path or id and the way to get the model: the
runner prints it as the fatal line and exits 78, and the supervisor shows it
instead of restarting the engine in a loop. Each engine checks what kind of
model the directory holds itself.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from engines.protocol.errors import ModelNotFound

_LOG = logging.getLogger(__name__)
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


def locate(spec: str, example: str, revision: str | None = None) -> Path:
    """The local directory, with a config.json, holding the model named by ``spec``.

    ``example`` is a repo id the error messages offer (the engine's default model).
    """
    path = fetch(spec, revision) if is_repo_id(spec) else Path(spec).expanduser()
    if not path.exists():
        raise ModelNotFound(
            f"model directory {path} does not exist; pass a directory with config.json and the weights, "
            f"or a Hugging Face repo id such as {example} to download it")
    if not (path / "config.json").is_file():
        raise ModelNotFound(
            f"{spec}: {path} is not a model directory (it has no config.json); pass the directory that holds "
            "config.json, the weights (*.safetensors) and the processor files")
    return path


def fetch(repo_id: str, revision: str | None = None) -> Path:
    """The repo's snapshot from the local hub cache, else downloaded into it."""
    from huggingface_hub import constants, snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except Exception:  # not in the cache (LocalEntryNotFoundError and friends): download below
        pass
    how = (f"download it once with `hf download {repo_id}` (package huggingface_hub) on a machine with "
           f"internet access, or pass the path of a local copy instead")
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
