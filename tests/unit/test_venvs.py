"""installer.venvs: which torch build pip is asked for (no CUDA wheels for the cpu choice); the venv
layout (daemon.paths) that finds an engine venv's interpreter and site-packages."""
from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from daemon import paths
from installer import venvs


@pytest.fixture(autouse=True)
def _no_index_setting(monkeypatch) -> None:
    monkeypatch.delenv("SISYPHUS_TORCH_INDEX", raising=False)


def test_cpu_torch_comes_from_the_cpu_index_on_linux_only() -> None:
    # PyPI's Linux torch is the CUDA build; its Windows and macOS wheels are CPU builds already
    assert venvs.torch_args("cpu", platform="linux") == [
        f"torch=={venvs.TORCH_VERSION}", "--index-url", "https://download.pytorch.org/whl/cpu"]
    assert venvs.torch_args("cpu", platform="win32") == [f"torch=={venvs.TORCH_VERSION}"]


def test_macos_and_cuda_use_the_default_index_and_an_explicit_index_wins() -> None:
    assert venvs.torch_args("cpu", platform="darwin") == [f"torch=={venvs.TORCH_VERSION}"]
    assert venvs.torch_args("cuda", platform="linux") == [f"torch=={venvs.TORCH_VERSION}"]
    cu = "https://download.pytorch.org/whl/cu128"
    assert venvs.torch_args("cuda", cu, platform="linux")[-2:] == ["--index-url", cu]
    assert venvs.torch_args("cpu", "https://mirror.example/cpu", platform="linux")[-1] == "https://mirror.example/cpu"


def test_the_version_pin_matches_the_cpu_index_wheels() -> None:
    """The CPU index names its wheels 2.13.0+cpu: `torch==2.13.0` must accept that, not only PyPI's."""
    pin = SpecifierSet(venvs.torch_args("cpu", platform="linux")[0].removeprefix("torch"))
    assert pin.contains(f"{venvs.TORCH_VERSION}+cpu") and pin.contains(venvs.TORCH_VERSION)


def test_the_venv_layout_finds_this_venvs_site_packages_without_running_it(tmp_path) -> None:
    if sys.prefix == sys.base_prefix:
        pytest.skip("the tests do not run in a virtual environment")
    assert paths.venv_python(Path(sys.prefix)).samefile(sys.executable)
    assert paths.venv_site_packages(Path(sys.executable)) == Path(sysconfig.get_paths()["purelib"])
    if sys.platform != "win32":
        with pytest.raises(FileNotFoundError, match="sisyphus setup"):
            paths.venv_site_packages(paths.venv_python(tmp_path / "never-built"))


def test_the_profile_table_names_venvs_the_installer_builds(tmp_path) -> None:
    """One profile table (daemon.supervisor.profiles) for the daemon, `sisyphus setup` and `doctor`."""
    from daemon.supervisor import profiles
    from installer import setup
    from daemon.vram.nvml import GpuInfo

    assert set(profiles.VENVS) == {"gpu", "cpu", "fake"}
    for profile, names in profiles.VENVS.items():
        assert set(names) <= set(venvs.ENGINES), profile
        if profile != "fake":
            assert setup.make_plan(profile, GpuInfo(why="no driver")).engines == names
    assert profiles.venv_python(tmp_path, "asr") == paths.venv_python(tmp_path / "venvs" / "asr")
