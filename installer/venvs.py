"""Create and repair one virtual environment per engine; every pip call into one goes through :class:`Pip`.

The engines need incompatible packages (GLM-ASR: the newest transformers 5.x; qwen-tts-hf:
transformers==5.15.1), so each gets its own venv, built from its pinned
requirements file. torch is installed first and on its own, so no requirement can
drag in a different (CUDA) build behind our back. ``sisyphus setup``, CI and the
engine tests all build venvs through ``create``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from daemon.paths import venv_python

from . import app_source, fixups, torch_index

REPO = Path(__file__).resolve().parent.parent  # a clone, or the site-packages of the installed app
TORCH_VERSION = os.environ.get("SISYPHUS_TORCH_VERSION", "2.13.0")  # also matches the CPU index's 2.13.0+cpu
CPU_TORCH_INDEX = torch_index.CPU_INDEX  # which index, and when: installer/torch_index.py


@dataclass(frozen=True)
class EngineEnv:
    name: str
    requirements: str  # path relative to the repository / installed package root
    needs_torch: bool
    module: str  # what must import in the finished venv
    imports: str = ""  # further modules a healthy venv imports (a venv built for an older pin lacks them)


ENGINES: dict[str, EngineEnv] = {
    "asr": EngineEnv("asr", "engines/asr/requirements.txt", True, "engines.asr"),
    "tts": EngineEnv("tts", "engines/tts/requirements.txt", True, "engines.tts", fixups.TTS_IMPORTS),
    "whisper": EngineEnv("whisper", "engines/cpu/requirements-whisper.txt", False, "wyoming_faster_whisper"),
    "piper": EngineEnv("piper", "engines/cpu/requirements-piper.txt", False, "wyoming_piper"),
}

Progress = Callable[[str], None]


def _run(cmd: list[str], progress: Progress) -> None:
    progress("$ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True)


class Pip:
    """pip for one venv, whoever made it: uv's pip when uv is on PATH, else the venv's own pip, else this
    interpreter's pip aimed at the venv (``pip --python``): a venv made by ``uv venv`` has no pip of its own."""

    def __init__(self, python: Path, progress: Progress, uv: str | None = None) -> None:
        self.python, self.progress, self.uv = python, progress, uv
        self._own: bool | None = None

    def has_own_pip(self) -> bool:
        if self._own is None:
            probe = subprocess.run([str(self.python), "-m", "pip", "--version"], capture_output=True)
            self._own = probe.returncode == 0
        return self._own

    def command(self, verb: str, *args: str) -> list[str]:
        """The command line of ``pip VERB ARGS`` into this venv (quiet; ``uninstall`` never asks)."""
        if self.uv:
            return [self.uv, "pip", verb, "--python", str(self.python), *args]
        yes = ["-y"] if verb == "uninstall" else []
        pip = [str(self.python), "-m", "pip"] if self.has_own_pip() else [sys.executable, "-m", "pip", "--python",
                                                                          str(self.python)]
        return [*pip, verb, "-q", "--disable-pip-version-check", *yes, *args]

    def run(self, verb: str, *args: str) -> bool:
        """Run it, its output shown; True when it worked."""
        cmd = self.command(verb, *map(str, args))
        self.progress("$ " + " ".join(cmd))
        return subprocess.run(cmd).returncode == 0

    def install(self, *args: str) -> None:
        """``pip install ARGS``, or CalledProcessError."""
        cmd = self.command("install", *map(str, args))
        self.progress("$ " + " ".join(cmd))
        subprocess.run(cmd, check=True)


def torch_args(torch: str, index_url: str | None = None, platform: str = sys.platform) -> list[str]:
    """pip arguments for torch: 'cpu' or 'cuda' (the PyPI default build on Linux is CUDA)."""
    index_url = torch_index.choose(torch, index_url, platform)
    args = [f"torch=={TORCH_VERSION}"]
    if index_url:
        args += ["--index-url", index_url]
    return args


def healthy(dest: Path, spec: EngineEnv) -> bool:
    python = venv_python(dest)
    if not python.exists():
        return False
    modules = ", ".join(filter(None, (spec.module, spec.imports)))
    probe = subprocess.run([str(python), "-c", f"import {modules}"], capture_output=True)
    return probe.returncode == 0


def create(
    name: str,
    dest: Path,
    *,
    torch: str = "cpu",
    torch_index_url: str | None = None,
    project: Path = REPO,
    editable: bool = False,
    upgrade: bool = False,
    progress: Progress = lambda msg: print(msg, file=sys.stderr),
) -> Path:
    """Create (or repair) the venv for engine ``name`` at ``dest``; return its python."""
    spec = ENGINES[name]
    if healthy(dest, spec) and not upgrade:
        app_source.refresh(venv_python(dest), project, progress)  # an installed app's code, kept current
        progress(f"[{name}] venv at {dest} is healthy")
        return venv_python(dest)
    uv = shutil.which("uv")
    python = venv_python(dest)
    if not python.exists():
        progress(f"[{name}] creating venv at {dest}")
        if uv:
            _run([uv, "venv", "--python", sys.executable, str(dest)], progress)
        else:
            venv.EnvBuilder(with_pip=True, clear=dest.exists()).create(dest)
    pip = Pip(python, progress, uv)
    if spec.needs_torch:
        progress(f"[{name}] installing torch {TORCH_VERSION} ({torch})")
        pip.install(*torch_args(torch, torch_index_url))
    progress(f"[{name}] installing {spec.requirements}")
    pip.install("-r", str(project / spec.requirements))
    fixup = getattr(fixups, name, None)  # per-engine fix-ups that pip can't express (installer/fixups.py)
    if fixup is not None:
        fixup(pip, progress)
    progress(f"[{name}] installing sisyphus into the venv")
    app_source.install(python, pip.install, project, editable, progress)  # from a clone, or the installed app
    if not healthy(dest, spec):
        raise RuntimeError(f"[{name}] the venv at {dest} was built but `import {spec.module}` fails in it")
    progress(f"[{name}] ready: {python}")
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create or repair an engine venv.")
    parser.add_argument("engine", choices=sorted(ENGINES))
    parser.add_argument("dest", type=Path)
    parser.add_argument("--torch", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--torch-index-url")
    parser.add_argument("--editable", action="store_true")
    parser.add_argument("--upgrade", action="store_true")
    args = parser.parse_args(argv)
    index = torch_index.resolve(args.torch, args.torch_index_url) if ENGINES[args.engine].needs_torch else None
    if index and index.note:
        print(index.note, file=sys.stderr)
    create(args.engine, args.dest, torch=args.torch, torch_index_url=(index.url or torch_index.PYPI) if index else None,
           editable=args.editable, upgrade=args.upgrade)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
