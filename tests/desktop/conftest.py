"""Desktop tests need the headless desktop of tests/desktop/harness.sh (Xvfb, tray host, PulseAudio).

Locally, without the harness, they are skipped with the command to run them. In CI (``CI`` set)
a missing harness is a failure: a green CI run must mean these tests ran.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HARNESS = Path(__file__).with_name("harness.sh")


def require_harness() -> None:
    """Skip (locally) or fail (in CI) unless running inside the desktop harness."""
    if os.environ.get("SISYPHUS_HARNESS") == "1":
        return
    how = f"run them with: {HARNESS} .venv/bin/python -m pytest tests/desktop"
    if os.environ.get("CI"):
        pytest.fail(f"desktop tests must run inside the headless desktop harness in CI; {how}")
    pytest.skip(f"needs the headless desktop harness; {how}")


@pytest.fixture(autouse=True)
def _harness() -> None:
    require_harness()


def pactl(*args: str) -> str:
    """Run ``pactl`` against the harness's PulseAudio; raise with its stderr on failure."""
    proc = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=10)
    if proc.returncode:
        raise RuntimeError(f"pactl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real spoken sentence (espeak-ng, 22.05 kHz mono s16) to feed the virtual mic."""
    require_harness()
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: install tests/desktop/apt-packages.txt")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "Hold the key and speak."],
                   check=True, timeout=30)
    return path
