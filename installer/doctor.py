"""``sisyphus doctor``: one screen that checks everything and says what to fix.

Each check returns a ``Check`` (ok / warn / fail, what it saw, what to do). Only
``fail`` makes the exit code non-zero: a machine without a GPU that runs the cpu
profile is fine, a broken config or an unusable engine venv is not. Nothing here
imports torch: the GPU is seen through NVML, engines through their venv's python.
The API key is never printed.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

from daemon import paths
from daemon.config.schema import LlmSettings, Settings
from daemon.supervisor import profiles
from daemon.vram.nvml import GpuInfo, probe_gpu

OK, WARN, FAIL = "ok", "warn", "FAIL"
GPU_ENGINE_MIN_FREE_MB = 6000  # GLM-ASR-Nano (bf16) + Qwen3-TTS 1.7B, with headroom


@dataclass(frozen=True)
class Check:
    title: str
    status: str
    detail: str
    fix: str = ""


@dataclass
class Context:
    """What every check may look at, gathered once."""

    config_path: Path
    data_dir: Path
    profile: str = "auto"
    settings: Settings | None = None  # set by check_config; the later checks need it
    gpu: GpuInfo = field(default_factory=GpuInfo)
    env: dict = field(default_factory=lambda: dict(os.environ))
    ask_llm: bool = True


def _settings(ctx: Context) -> Settings:
    if ctx.settings is None:
        raise RuntimeError("check_config must run (and succeed) before this check")
    return ctx.settings


def check_python(ctx: Context) -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("python", OK if ok else FAIL, f"{platform.python_implementation()} {platform.python_version()}",
                 "" if ok else "sisyphus needs Python 3.11 or newer; reinstall with installer/install.sh")


def check_config(ctx: Context) -> Check:
    from daemon.config.store import ConfigError, load

    try:
        ctx.settings = load(ctx.config_path)
    except ConfigError as exc:
        return Check("config", FAIL, f"{exc.path}: " + "; ".join(exc.problems),
                     "fix the keys named above (`sisyphus config check` re-checks)")
    where = "" if ctx.config_path.exists() else " (no file: defaults; `sisyphus config init` writes one)"
    ctx.profile = profiles.resolve(ctx.settings.daemon.profile, ctx.data_dir)
    return Check("config", OK, f"{ctx.config_path}{where}; profile {ctx.settings.daemon.profile} -> {ctx.profile}")


def check_gpu(ctx: Context) -> Check:
    gpu = ctx.gpu
    if not gpu.driver or not gpu.gpus:
        status = FAIL if ctx.profile == "gpu" else OK
        fix = "install the NVIDIA driver, or use the cpu profile ([daemon] profile = \"cpu\")" if status == FAIL else ""
        return Check("gpu", status, f"{gpu.why}; the {ctx.profile} profile " +
                     ("needs one" if status == FAIL else "does not need one"), fix)
    lines = [f"{g.name}: {g.free_mb} MiB free of {g.total_mb} MiB" for g in gpu.gpus]
    low = ctx.profile == "gpu" and max(g.free_mb for g in gpu.gpus) < GPU_ENGINE_MIN_FREE_MB
    fix = f"the two models want about {GPU_ENGINE_MIN_FREE_MB} MiB free: close other GPU programs" if low else ""
    return Check("gpu", WARN if low else OK, f"driver {gpu.driver}; " + "; ".join(lines), fix)


def check_venvs(ctx: Context) -> list[Check]:
    from .venvs import ENGINES, healthy

    checks = []
    for name in profiles.VENVS.get(ctx.profile, ()):
        dest = profiles.venv_dir(ctx.data_dir, name)
        if not profiles.venv_python(ctx.data_dir, name).exists():
            checks.append(Check(f"venv {name}", FAIL, f"missing at {dest}",
                                f"run `sisyphus setup --profile {ctx.profile}`"))
        elif not healthy(dest, ENGINES[name]):
            checks.append(Check(f"venv {name}", FAIL, f"`import {ENGINES[name].module}` fails in {dest}",
                                f"run `sisyphus setup --profile {ctx.profile}` to repair it"))
        else:
            torch = _torch_line(dest, ENGINES[name].needs_torch)
            cpu_only = "cpu-only" in torch and bool(ctx.gpu.driver)
            checks.append(Check(f"venv {name}", WARN if cpu_only else OK, f"{dest}{torch}",
                                "CPU torch next to an NVIDIA driver: run `sisyphus setup --upgrade --torch cuda`"
                                if cpu_only else ""))
    return checks


def _torch_line(dest: Path, needs_torch: bool) -> str:
    """torch and its CUDA build, asked of the engine venv (never imported here)."""
    if not needs_torch:
        return ""
    code = "import torch; print(torch.__version__, torch.version.cuda or 'cpu-only')"
    probe = subprocess.run([str(paths.venv_python(dest)), "-c", code],
                           capture_output=True, text=True, timeout=120)
    return f"; torch {probe.stdout.strip()}" if probe.returncode == 0 else "; torch does not import"


def check_models(ctx: Context) -> Check:
    if ctx.profile != "gpu":
        return Check("models", OK, f"the {ctx.profile} profile's models ship inside its venvs")
    from .models import missing_models

    missing = missing_models(_settings(ctx))
    if missing:
        return Check("models", FAIL, "not downloaded: " + ", ".join(missing), "run `sisyphus models pull`")
    return Check("models", OK, "GLM-ASR-Nano and Qwen3-TTS (CustomVoice, Base) present")


AUDIO_NEEDED = {"input": "hear you", "output": "speak"}


def check_audio(ctx: Context) -> list[Check]:
    """FAIL when the assistant cannot hear or speak: no PortAudio, or no usable device."""
    from daemon.audio import devices, portaudio
    from daemon.audio.errors import AudioError

    try:
        portaudio.load()
    except AudioError as exc:
        return [Check("audio", FAIL, "no PortAudio: the assistant can neither hear nor speak", str(exc))]
    checks = []
    audio = _settings(ctx).audio
    wanted: dict[Literal["input", "output"], str] = {"input": audio.input_device, "output": audio.output_device}
    for kind, name in wanted.items():
        try:
            dev = devices.resolve(name, kind)
            checks.append(Check(f"audio {kind}", OK, f"{name!r} -> {dev.label}"))
        except AudioError as exc:  # the message names the device and what to do: the fix
            checks.append(Check(f"audio {kind}", FAIL,
                                f"[audio] {kind}_device = {name!r}: the assistant cannot {AUDIO_NEEDED[kind]}",
                                str(exc)))
    return checks


def check_desktop(ctx: Context) -> list[Check]:
    from daemon.platform.hotkey import SHORTCUT_HINT, why_no_pynput
    from daemon.platform.tray import has_display

    hotkey, tray = _settings(ctx).hotkey, _settings(ctx).tray
    why = why_no_pynput(ctx.env, sys.platform)
    if hotkey.backend == "dummy" or why:
        key = Check("hotkey", WARN, f"no global hotkey ({why or 'backend dummy'})", f"to talk, {SHORTCUT_HINT}")
    elif sys.platform.startswith("linux") and ctx.env.get("WAYLAND_DISPLAY"):
        key = Check("hotkey", WARN, f"pynput {hotkey.chord} only sees X11 windows on Wayland", SHORTCUT_HINT)
    else:
        key = Check("hotkey", OK, f"pynput, chord {hotkey.chord} ({hotkey.mode})")
    display = has_display(ctx.env)
    shown = tray.backend != "dummy" and display
    icon = Check("tray", OK if shown else WARN, f"backend {tray.backend}, display {'yes' if display else 'no'}",
                 "" if shown else "no tray icon: use `sisyphus status` and `sisyphus quit`")
    return [key, icon, *([macos_permission_check()] if sys.platform == "darwin" else [])]


def macos_permission_check() -> Check:
    """The hotkey hears nothing on macOS until the user grants these (the tray needs none)."""
    from daemon.platform.hotkey.permissions import macos_permissions

    perms = macos_permissions()
    missing = [p for p in perms if not p.granted]
    detail = ", ".join(f"{p.name} {'granted' if p.granted else 'unknown' if p.granted is None else 'NOT granted'}"
                       for p in perms)
    return Check("permissions", WARN if missing else OK, f"hotkey: {detail}",
                 "; ".join(p.fix() for p in missing))


def check_llm(ctx: Context) -> Check:
    """A tiny request (GET /models) proves the endpoint answers and the key is accepted."""
    from daemon.llm.client import LlmClient, LlmError

    llm = _settings(ctx).llm
    key_note = "key set" if llm.api_key else "no key"

    async def ask() -> list[str]:
        client = LlmClient(llm.base_url, llm.api_key or None, llm.model, timeout_s=min(llm.timeout_s, 10.0),
                           max_retries=0)
        try:
            return await client.list_models()
        finally:
            await client.aclose()

    try:
        models = asyncio.run(ask())
    except LlmError as exc:
        return Check("llm", FAIL, f"({key_note}) {exc.code}: {exc.text}", _llm_fix(exc.code))
    except Exception as exc:  # an unexpected client failure is still the endpoint's problem to explain
        return Check("llm", FAIL, f"{llm.base_url} ({key_note}): {type(exc).__name__}: {exc}", _llm_fix(""))
    listed = not models or llm.model in models
    known = "" if listed else f"; model {llm.model!r} not listed (has {', '.join(models[:5])})"
    return Check("llm", WARN if known else OK, f"{llm.base_url} answers ({key_note}){known}",
                 "set [llm] model to one the endpoint lists" if known else "")


def _llm_fix(code: str) -> str:
    if code == "llm_auth":
        return "set LLM_API_KEY (or [llm] api_key) to a key this endpoint accepts"
    return "start the LLM server, or set [llm] base_url to one that runs (and LLM_API_KEY if it needs one)"


def run_checks(ctx: Context) -> list[Check]:
    checks = [check_python(ctx), check_config(ctx)]
    if ctx.settings is None:
        return checks
    checks.append(check_gpu(ctx))
    groups: list[Callable[[Context], Check | list[Check]]] = [check_venvs, check_models, check_audio,
                                                              check_desktop]
    if ctx.ask_llm:
        groups.append(turn_llm)  # which LLM a turn uses: the external server or the embedded engine
    for group in groups:
        result = group(ctx)
        checks += result if isinstance(result, list) else [result]
    return checks


def turn_llm(ctx: Context) -> Check:
    """``doctor``: which LLM a turn will use, and whether it can answer."""
    from daemon.llm import embedded

    from .llm_setup import SIZE_NOTE

    llm = _settings(ctx).llm
    if llm.backend == "external":
        return _external(ctx, "[llm] backend = \"external\"")
    if llm.backend == "embedded":
        return _embedded(ctx, llm, "[llm] backend = \"embedded\"")
    external = _external(ctx, "backend auto")
    if external.status != FAIL or ("llm_unreachable" not in external.detail and "llm_timeout" not in external.detail):
        return external
    if not embedded.model_setting(llm)[1] and not embedded.venv_python(ctx.data_dir).exists():
        return Check("llm", FAIL, f"no LLM answers at {llm.base_url}, and the embedded engine is not set up",
                     f"start your LLM server (e.g. `ollama serve`), or run `{embedded.SETUP}` ({SIZE_NOTE})")
    return _embedded(ctx, llm, f"backend auto: no LLM answers at {llm.base_url}")


def _external(ctx: Context, why: str) -> Check:
    check = check_llm(ctx)
    if check.status == FAIL:
        return check
    return Check("llm", check.status, f"a turn uses the LLM server: {check.detail} ({why})", check.fix)


def _embedded(ctx: Context, llm: LlmSettings, why: str) -> Check:
    from daemon.llm import embedded

    from .llm_setup import SIZE_NOTE
    from .venvs import ENGINES, healthy

    dest = ctx.data_dir / "venvs" / embedded.ENGINE
    if not healthy(dest, ENGINES[embedded.ENGINE]):
        return Check("llm", FAIL, f"{why}, but the embedded engine's venv at {dest} is missing or broken",
                     f"run `{embedded.SETUP}` ({SIZE_NOTE})")
    try:
        key, value = embedded.model_setting(llm)
        model, name = embedded.resolve_model(value, ctx.data_dir, key=key)
    except embedded.ModelError as exc:
        return Check("llm", FAIL, f"{why}: {exc}")
    detail = f"a turn uses the embedded engine, model {name} ({model}; {why})"
    if not value:
        return Check("llm", WARN, detail, embedded.TINY_WARNING)
    return Check("llm", OK, detail)


def render(checks: list[Check]) -> str:
    width = max(len(c.title) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"[{c.status:>4}] {c.title:<{width}}  {c.detail}")
        if c.fix:
            lines.append(f"       {'':<{width}}  -> {c.fix}")
    fails = sum(c.status == FAIL for c in checks)
    lines.append("all good" if not fails else f"{fails} problem(s) to fix")
    return "\n".join(lines)


def main(argv: list[str], config_path: Path) -> int:
    parser = argparse.ArgumentParser(prog="sisyphus doctor", description="Check everything; explain what to fix.")
    parser.add_argument("--data-dir", type=Path, default=None, help="engine venvs live under DIR/venvs")
    parser.add_argument("--no-llm", action="store_true", help="skip the LLM request")
    parser.add_argument("--json", action="store_true", help="print the checks as JSON (for scripts)")
    args = parser.parse_args(argv[1:] if argv[:1] == ["--"] else argv)
    ctx = Context(config_path, args.data_dir or paths.data_dir(), gpu=probe_gpu(), ask_llm=not args.no_llm)
    checks = run_checks(ctx)
    if args.json:
        from dataclasses import asdict

        from daemon.commands.output import as_json

        print(as_json({"checks": [asdict(c) for c in checks], "problems": sum(c.status == FAIL for c in checks)}))
    else:
        print(render(checks))
    return 1 if any(c.status == FAIL for c in checks) else 0


if __name__ == "__main__":  # `python -m ...` works without the app's CLI (tests, the install scripts)
    from installer.entry import run

    run(main)
