"""Which engines to run: the ``fake``, ``gpu`` and ``cpu`` profiles, and ``auto``.

A remote ``uri`` or a custom ``command`` in an engine's settings replaces that
engine in any profile (see spec.from_settings).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from daemon import paths
from daemon.config.schema import Settings
from daemon.vram.nvml import has_nvidia

from .models import ASR_MODEL, TTS_BASE_MODEL, TTS_MODEL
from .models import resolve as model  # a pulled model's local dir, else the id
from .spec import EngineSpec, engine_uri, fake_specs, from_settings

_LOG = logging.getLogger(__name__)


# The profile table, one home for the daemon and the installer (setup builds these venvs,
# doctor checks them): the engine venvs each profile runs, named as installer.venvs.ENGINES.
VENVS: dict[str, tuple[str, ...]] = {"gpu": ("asr", "tts"), "cpu": ("whisper", "piper"), "fake": ()}


class ProfileError(Exception):
    pass


def venv_dir(data_dir: Path, name: str) -> Path:
    """Where engine venv ``name`` lives: ``<data dir>/venvs/<name>``."""
    return data_dir / "venvs" / name


def venv_python(data_dir: Path, name: str) -> Path:
    return paths.venv_python(venv_dir(data_dir, name))


def resolve(profile: str, data_dir: Path) -> str:
    if profile != "auto":
        return profile
    if all(venv_python(data_dir, n).exists() for n in VENVS["gpu"]) and has_nvidia():
        chosen = "gpu"
    elif all(venv_python(data_dir, n).exists() for n in VENVS["cpu"]):
        chosen = "cpu"
    else:
        chosen = "gpu" if has_nvidia() else "cpu"
    _LOG.info("profile auto: chose %s", chosen)
    return chosen


def specs(settings: Settings, profile: str, runtime_dir: Path, data_dir: Path) -> dict[str, EngineSpec]:
    if profile == "fake":
        return fake_specs(settings, runtime_dir)
    asr_uri, tts_uri = engine_uri("asr", runtime_dir), engine_uri("tts", runtime_dir)
    if profile == "gpu":
        asr_argv, tts_argv = _gpu_argv(settings, asr_uri, tts_uri, data_dir)
    elif profile == "cpu":
        asr_argv, tts_argv = _cpu_argv(asr_uri, tts_uri, data_dir)
    else:
        raise ProfileError(f"unknown profile {profile!r}")
    setup = f"sisyphus setup --profile {profile}"
    return {"asr": from_settings("asr", settings.asr, asr_uri, asr_argv, setup),
            "tts": from_settings("tts", settings.tts, tts_uri, tts_argv, setup)}


def _gpu_argv(settings: Settings, asr_uri: str, tts_uri: str, data_dir: Path) -> tuple[tuple, tuple]:
    pid = str(os.getpid())
    asr, tts = settings.asr, settings.tts
    asr_argv = (str(venv_python(data_dir, "asr")), "-m", "engines.asr", "--uri", asr_uri,
                "--model", str(model(ASR_MODEL, asr.model)), "--device", asr.device, "--dtype", asr.dtype, "--parent-pid", pid)
    tts_argv = (str(venv_python(data_dir, "tts")), "-m", "engines.tts", "--uri", tts_uri,
                "--custom-voice-model", str(model(TTS_MODEL, tts.model)),
                "--base-model", str(model(TTS_BASE_MODEL, tts.base_model)),
                "--voices-dir", str(data_dir / "voices"), "--device", tts.device, "--dtype", tts.dtype,
                "--parent-pid", pid)
    return asr_argv, tts_argv


def _cpu_argv(asr_uri: str, tts_uri: str, data_dir: Path) -> tuple[tuple, tuple]:
    """Upstream Wyoming servers with models shipped inside PyPI wheels (see cpu.py)."""
    from .cpu import piper_argv, whisper_argv

    return (whisper_argv(venv_python(data_dir, "whisper"), asr_uri, data_dir),
            piper_argv(venv_python(data_dir, "piper"), tts_uri, data_dir))
