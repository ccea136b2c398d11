"""``sisyphus setup``: pick the profile for this machine and build its engine venvs.

Detects an NVIDIA driver through NVML (no CUDA context, no torch), chooses the gpu
profile when there is one and the cpu profile otherwise, and builds each engine's
venv (where ``daemon.supervisor.profiles`` says) with ``installer.venvs.create`` (CUDA torch only
when a driver is present). Re-running it is safe: healthy venvs are left alone, a
deleted or broken one is rebuilt, the voices dir and an existing config are never
touched (a missing config gets the documented defaults).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from daemon import paths
from daemon.supervisor.profiles import VENVS, venv_dir
from daemon.vram.nvml import GpuInfo, probe_gpu

from . import torch_index, venvs
from .torch_index import cuda_index_url

CPU_TORCH_INDEX = torch_index.CPU_INDEX  # which index torch comes from, and when: installer/torch_index.py


@dataclass(frozen=True)
class Plan:
    """What setup will do, decided before anything is built (printed, and tested)."""

    profile: str
    why: str
    torch: str
    torch_index_url: str | None
    engines: tuple[str, ...]


def choose_profile(requested: str, gpu: GpuInfo) -> tuple[str, str]:
    """(profile, why): gpu when an NVIDIA driver sees a GPU, else cpu; an explicit choice wins."""
    seen = f"NVIDIA driver {gpu.driver}, {', '.join(g.name for g in gpu.gpus)}" if gpu.gpus else gpu.why
    if requested != "auto":
        return requested, f"asked for with --profile {requested} ({seen})"
    if gpu.driver and gpu.gpus:
        return "gpu", f"found {seen}: GLM-ASR-Nano and Qwen3-TTS will run on the GPU"
    return "cpu", f"{seen}: using the cpu profile (Whisper tiny.en and Piper, English only)"


def make_plan(requested: str, gpu: GpuInfo, torch: str | None = None, torch_index_url: str | None = None,
              only: tuple[str, ...] = (), platform: str = sys.platform) -> Plan:
    profile, why = choose_profile(requested, gpu)
    torch = torch or ("cuda" if gpu.driver and gpu.gpus else "cpu")
    torch_index_url = torch_index.choose(torch, torch_index_url, platform, gpu.cuda)
    engines = VENVS[profile]
    if only:
        unknown = set(only) - set(venvs.ENGINES)
        if unknown:
            raise SystemExit(f"sisyphus setup: unknown engine(s) {sorted(unknown)}; known: {sorted(venvs.ENGINES)}")
        engines = tuple(only)
    return Plan(profile, why, torch, torch_index_url, engines)


def checked_index(plan: Plan, say: Callable[[str], None], check=torch_index.unreachable) -> Plan:
    """The plan with its torch index asked once: one that does not answer is skipped (pip's own index)."""
    choice = torch_index.resolve(plan.torch, plan.torch_index_url or torch_index.PYPI, check=check)
    if choice.note:
        say("torch: " + choice.note)
    return replace(plan, torch_index_url=choice.url or torch_index.PYPI)


def write_default_config(config_path: Path, say: Callable[[str], None]) -> None:
    """The documented defaults, only when there is no config yet (a user's file is never replaced)."""
    from daemon.config.store import atomic_write, default_text

    if config_path.exists():
        say(f"config: {config_path} exists; left as it is")
        return
    atomic_write(config_path, default_text())
    say(f"config: wrote the documented defaults to {config_path}")


def build(plan: Plan, data_dir: Path, upgrade: bool, editable: bool, say: Callable[[str], None]) -> list[str]:
    """Create or repair each venv of the plan; return the names that failed (with the reason said)."""
    failed = []
    for i, name in enumerate(plan.engines, 1):
        dest = venv_dir(data_dir, name)
        say(f"[{i}/{len(plan.engines)}] engine venv {name}: {dest}")
        started = time.monotonic()
        try:
            clear_broken(name, dest, say)
            venvs.create(name, dest, torch=plan.torch, torch_index_url=plan.torch_index_url,
                         upgrade=upgrade, editable=editable, progress=lambda m: say("    " + m))
        except Exception as exc:  # pip or venv failures: report, go on with the others, fail at the end
            say(f"    FAILED: {exc}")
            failed.append(name)
            continue
        say(f"    done in {time.monotonic() - started:.0f} s")
    return failed


def clear_broken(name: str, dest: Path, say: Callable[[str], None]) -> None:
    """Remove a venv whose engine does not import: pip would call its damaged packages
    "already satisfied" and leave them broken, so only a fresh venv repairs it reliably."""
    if not (dest.exists() or dest.is_symlink()) or venvs.healthy(dest, venvs.ENGINES[name]):
        return
    say(f"    {dest} is broken (`import {venvs.ENGINES[name].module}` fails there): rebuilding it from scratch")
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    else:
        shutil.rmtree(dest)


def next_step(profile: str) -> str:
    if profile == "gpu":
        return "next: `sisyphus models pull` (about 6 GB), then `sisyphus doctor` and `sisyphus run`"
    return "next: `sisyphus doctor`, then `sisyphus run` (and `sisyphus autostart enable` to start at login)"


def main(argv: list[str], config_path: Path) -> int:
    parser = argparse.ArgumentParser(prog="sisyphus setup", description="Create or repair the engine venvs.")
    parser.add_argument("--profile", choices=["auto", "gpu", "cpu"], default="auto")
    parser.add_argument("--torch", choices=["cpu", "cuda"], help="torch build (default: cuda when a driver is found)")
    parser.add_argument("--torch-index-url", help="pip index for torch (e.g. a CUDA-specific wheel index)")
    parser.add_argument("--upgrade", action="store_true", help="reinstall even healthy venvs")
    parser.add_argument("--data-dir", type=Path, help=f"default: {paths.data_dir()}")
    parser.add_argument("--only", default="", help="comma-separated engines to build instead of the profile's")
    parser.add_argument("--editable", action="store_true", help="install this checkout editable (developers)")
    args = parser.parse_args(argv[1:] if argv[:1] == ["--"] else argv)

    def say(msg: str) -> None:
        print(msg, flush=True)

    gpu = probe_gpu()
    only = tuple(n.strip() for n in args.only.split(",") if n.strip())
    plan = make_plan(args.profile, gpu, args.torch, args.torch_index_url, only)
    say(f"profile: {plan.profile} ({plan.why})")
    if any(venvs.ENGINES[name].needs_torch for name in plan.engines):  # the cpu profile's engines need none
        plan = checked_index(plan, say)
        index = plan.torch_index_url if plan.torch_index_url != torch_index.PYPI else None
        say(f"torch: {plan.torch} from " + (index or "pip's own index"))
    data_dir = args.data_dir or paths.data_dir()
    write_default_config(config_path, say)
    failed = build(plan, data_dir, args.upgrade, args.editable, say)
    if failed:
        say(f"setup failed for {', '.join(failed)}: read the pip output above, fix the cause "
            f"(network, disk space, Python headers), then run `sisyphus setup` again; it keeps what worked")
        return 1
    say(next_step(plan.profile))
    return 0


if __name__ == "__main__":  # `python -m ...` works without the app's CLI (tests, the install scripts)
    from installer.entry import run

    run(main)
