"""Putting sisyphus' own code (``daemon``, ``engines``, ``installer``) into an engine venv.

Our engines run as ``python -m engines.asr`` (``engines.tts``) with an engine venv's
interpreter, so each venv needs this code, from one of two places:

- a source tree (a clone; ``tests/run``, ``sisyphus setup --editable``): pip installs the
  project from it, editable or not;
- an installed package (``uv tool install``, ``pipx install``, ``pip install`` of the wheel or
  the sdist; no clone anywhere): the packages are copied from the installed app into the
  venv's site-packages. Not a pip install: the installed app is no project pip can build,
  and the engines need only these pure-Python packages (their own dependencies come from
  their requirements files). ``sisyphus setup`` copies them again on every run, also
  into healthy venvs, so after an upgrade of the app the engines run the same version.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from daemon.paths import venv_site_packages

PACKAGES = ("daemon", "engines", "installer")
Progress = Callable[[str], None]


def is_source_tree(root: Path) -> bool:
    """True for a checkout (or an unpacked sdist): a project pip can install."""
    return (root / "pyproject.toml").is_file()


def install(python: Path, pip_install: Callable[..., None], root: Path, editable: bool,
            progress: Progress) -> None:
    """Give the venv of ``python`` our packages from ``root`` (a source tree, or the installed app's
    site-packages folder that holds them); ``pip_install(*args)`` is that venv's ``pip install``."""
    if is_source_tree(root):
        pip_install("--no-deps", *(["-e", str(root)] if editable else [str(root)]))
        return
    copy_packages(python, root, progress)


def refresh(python: Path, root: Path, progress: Progress) -> None:
    """Keep an installed app's packages in a venv current (a source tree's install is left as it is)."""
    if not is_source_tree(root):
        copy_packages(python, root, progress)


def copy_packages(python: Path, root: Path, progress: Progress) -> None:
    site = venv_site_packages(python)
    missing = [name for name in PACKAGES if not (root / name / "__init__.py").is_file()]
    if missing:
        raise RuntimeError(f"the installed sisyphus at {root} lacks {', '.join(missing)}: reinstall it "
                           "(`uv tool install --reinstall sisyphus-assistant` or `pipx reinstall sisyphus-assistant`)")
    progress(f"copying sisyphus' packages ({', '.join(PACKAGES)}) from {root} into {site}")
    for name in PACKAGES:
        target, staging = site / name, site / f".{name}.new"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(root / name, staging, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
