"""Post-install fix-ups per engine venv, named after the engine (``installer.venvs.ENGINES``).

Each is ``def <engine>(python: Path, progress) -> None`` and must be idempotent.
"""
from __future__ import annotations

from pathlib import Path


# --- tts: qwen-tts 0.1.1 next to our own torch -------------------------------------------
# qwen-tts imports torchaudio at import time (only torchaudio.compliance.kaldi, pure Python,
# for the 25 Hz tokenizer we never use). PyPI torchaudio wheels pin one torch release and
# their native .so files link libc10_cuda, so a plain install would replace our torch and a
# --no-deps install on a CPU torch fails to import. We install both with --no-deps, prefer
# the torchaudio release that matches torch, and only when its native library cannot load
# next to this torch do we hide the .so files: torchaudio then imports as pure Python.
_TTS_QWEN = "qwen-tts==0.1.1"
_TTS_PROBE = r"""
import glob, json, os, sys
out = {"torch": None, "cuda": None, "torchaudio": None, "native_ok": False, "qwen_tts": None, "libs": []}
import torch
out["torch"], out["cuda"] = torch.__version__.split("+")[0], torch.version.cuda
try:
    from importlib.metadata import version
    out["qwen_tts"] = version("qwen-tts")
    out["torchaudio"] = version("torchaudio")
except Exception:
    pass
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


def tts(python: Path, progress) -> None:
    """Install qwen-tts and a torchaudio that imports next to this venv's torch (idempotent)."""
    import json
    import subprocess
    from pathlib import Path

    def probe() -> dict:
        done = subprocess.run([str(python), "-c", _TTS_PROBE], capture_output=True, text=True, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    def pip(*args: str) -> bool:
        cmd = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", *args]
        progress("$ " + " ".join(cmd))
        return subprocess.run(cmd).returncode == 0

    state = probe()
    if state["qwen_tts"] != _TTS_QWEN.split("==")[1] or state["torchaudio"] is None:
        if not pip(f"torchaudio=={state['torch']}", _TTS_QWEN):
            progress(f"[tts] no torchaudio {state['torch']} on the index; taking the newest one")
            if not pip("torchaudio", _TTS_QWEN):
                raise RuntimeError(f"[tts] could not install torchaudio and {_TTS_QWEN}; see pip's error above")
        state = probe()
    if not state["native_ok"]:
        progress(f"[tts] torchaudio {state['torchaudio']} native libs do not load with torch {state['torch']} "
                 f"(cuda={state['cuda']}); hiding them so torchaudio imports as pure Python")
        for lib in state["libs"]:
            Path(lib).rename(lib + ".disabled")
    check = subprocess.run([str(python), "-c", "import qwen_tts"], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"[tts] `import qwen_tts` fails in {python}: {check.stderr.strip()[-800:]}")
    progress(f"[tts] qwen-tts ready (torch {state['torch']}, torchaudio {state['torchaudio']})")


# --- asr: the Silero VAD model, taken from the faster-whisper wheel ------------------------
# The ASR engine gates GLM-ASR with Silero VAD (engines/asr/vad.py). The ONNX file ships
# inside the faster-whisper wheel (MIT); installing faster-whisper would pull CTranslate2 and
# PyAV for nothing, so we download that one wheel without dependencies and extract the file
# to <venv>/share/sisyphus/, where engines.asr.vad.installed_path() looks.
_ASR_VAD_WHEEL = "faster-whisper==1.2.1"
_ASR_VAD_MEMBER = "faster_whisper/assets/silero_vad_v6.onnx"
_ASR_VAD_SHA256 = "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2"


def asr(python: Path, progress) -> None:
    """Put silero_vad_v6.onnx into the ASR venv (idempotent; checks the file's sha256)."""
    import hashlib
    import subprocess
    import sys
    import tempfile
    import zipfile
    from pathlib import Path

    prefix = subprocess.run([str(python), "-c", "import sys; print(sys.prefix)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    dest = Path(prefix) / "share" / "sisyphus" / Path(_ASR_VAD_MEMBER).name
    if dest.is_file() and hashlib.sha256(dest.read_bytes()).hexdigest() == _ASR_VAD_SHA256:
        progress(f"[asr] VAD model present: {dest}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        for pip_python in (str(python), sys.executable):  # a uv-made venv has no pip of its own
            cmd = [pip_python, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                   "--only-binary=:all:", _ASR_VAD_WHEEL, "-d", tmp]
            progress("$ " + " ".join(cmd))
            if subprocess.run(cmd).returncode == 0:
                break
        wheels = list(Path(tmp).glob("faster_whisper-*.whl"))
        if not wheels:
            raise RuntimeError(f"[asr] could not download {_ASR_VAD_WHEEL} (for its Silero VAD model); "
                               "check the package index settings of pip, then run the installer again")
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read(_ASR_VAD_MEMBER)
    if hashlib.sha256(data).hexdigest() != _ASR_VAD_SHA256:
        raise RuntimeError(f"[asr] {_ASR_VAD_MEMBER} in {wheels[0].name} has an unexpected sha256; refusing it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    progress(f"[asr] VAD model installed: {dest}")
