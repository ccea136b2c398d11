"""Where sisyphus keeps things: platformdirs locations, the runtime dir, shipped assets."""
from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

import platformdirs

APP = "sisyphus"


def config_path(override: str | os.PathLike | None = None) -> Path:
    """``--config`` beats ``SISYPHUS_CONFIG`` beats the platform's user config dir."""
    if override:
        return Path(override).expanduser()
    if env := os.environ.get("SISYPHUS_CONFIG"):
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP, appauthor=False)) / "config.toml"


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP, appauthor=False))


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP, appauthor=False))


def runtime_dir() -> Path:
    """Per-user, mode 0700: sockets and the lock live here (tcp is used on Windows)."""
    if sys.platform == "win32":
        path = Path(platformdirs.user_runtime_dir(APP, appauthor=False))
    else:
        base = os.environ.get("XDG_RUNTIME_DIR")
        path = Path(base) / APP if base else Path(platformdirs.user_runtime_dir(APP, appauthor=False))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if sys.platform != "win32":
        os.chmod(path, 0o700)
    return path


def asset(name: str) -> Path:
    """A file from ``assets/``: inside the installed wheel, or the source checkout."""
    packaged = resources.files("daemon").joinpath("_assets", name)
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "assets" / name


def venv_python(venv_dir: Path) -> Path:
    """The interpreter of a virtual environment (engine venvs live under the user data dir)."""
    return venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def venv_site_packages(python: Path) -> Path:
    """The site-packages of the venv whose interpreter (``venv_python``) is ``python``, found without
    starting it."""
    venv = python.parent.parent
    if os.name == "nt":
        return venv / "Lib" / "site-packages"
    found = sorted((venv / "lib").glob("python3*/site-packages"))
    if not found:
        raise FileNotFoundError(f"no site-packages under {venv}; run `sisyphus setup` to build the venv")
    return found[-1]
