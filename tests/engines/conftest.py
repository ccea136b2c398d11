"""Fixtures shared by the engine tests: the TTS and ASR venvs and their tiny random-weight models (built
once a session)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.venvs import REPO, engine_python


@pytest.fixture(scope="session")
def tts_python() -> Path:
    return engine_python("tts")


@pytest.fixture(scope="session")
def tiny_models(tts_python, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("qwen3tts")
    done = subprocess.run([str(tts_python), str(REPO / "tests/fixtures/tiny_qwen3tts.py"), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"custom_voice": out / "custom_voice", "base": out / "base"}


@pytest.fixture(scope="session")
def asr_python() -> Path:
    return engine_python("asr")


@pytest.fixture(scope="session")
def tiny_model(asr_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random-weight GLM-ASR."""
    out = tmp_path_factory.mktemp("tiny-glmasr")
    done = subprocess.run([str(asr_python), str(REPO / "tests" / "fixtures" / "tiny_glmasr.py"), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"building the tiny GLM-ASR failed:\n{done.stderr[-3000:]}"
    return out
