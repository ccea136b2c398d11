"""The GLM-ASR checkpoint: a local directory or a Hugging Face repo id (engines.common.models
finds it), holding a transformers-format GLM-ASR."""
from __future__ import annotations

import json
from pathlib import Path

from engines.common.models import locate
from engines.protocol.errors import ModelNotFound

DEFAULT_MODEL = "zai-org/GLM-ASR-Nano-2512"
MODEL_TYPE = "glmasr"  # config.json of the transformers-format checkpoint


def resolve(spec: str, revision: str | None = None) -> Path:
    """The local directory holding the GLM-ASR model named by ``spec``."""
    path = locate(spec, DEFAULT_MODEL, revision)
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
