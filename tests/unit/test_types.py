"""mypy over daemon/, engines/ and installer/ as Linux, Windows and macOS see them.

Code for another OS must sit behind ``sys.platform`` checks mypy understands, so a
POSIX-only call on Windows' start path (``fcntl.flock``, ``asyncio.start_unix_server``,
``os.killpg``) fails here, on Linux, before any Windows user meets it. The
configuration (files, the third-party libraries without types) is ``[tool.mypy]``
in pyproject.toml; the cache lives in .cache/mypy/ so a re-run takes about a second.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLATFORMS = ("linux", "win32", "darwin")


@pytest.fixture(scope="module")
def reports() -> dict[str, subprocess.CompletedProcess]:
    if importlib.util.find_spec("mypy") is None:
        pytest.fail("mypy is missing: install the test tools with `pip install -e '.[test]'` (tests/run does)")
    runs = {p: subprocess.Popen([sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
                                 "--platform", p, "--cache-dir", str(REPO / ".cache" / "mypy" / p)],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for p in PLATFORMS}  # in parallel: each is ~12 s cold, ~1 s warm
    done = {}
    for platform, proc in runs.items():
        out, _ = proc.communicate(timeout=600)
        done[platform] = subprocess.CompletedProcess(proc.args, proc.returncode, out)
    return done


@pytest.mark.parametrize("platform", PLATFORMS)
def test_mypy_finds_no_errors(reports, platform):
    report = reports[platform]
    assert report.returncode == 0, f"mypy --platform {platform}:\n{report.stdout}"
    assert "Success: no issues found" in report.stdout


def test_mypy_would_catch_a_posix_call_on_windows(tmp_path):
    """The check has teeth: an unguarded POSIX call fails for win32, the guarded form passes."""
    if importlib.util.find_spec("mypy") is None:
        pytest.fail("mypy is missing: install the test tools with `pip install -e '.[test]'`")
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\ndef f(fd: int) -> bytes:\n    return os.pread(fd, 1, 0)\n")
    good = tmp_path / "good.py"
    good.write_text("import os\nimport sys\n\ndef f(fd: int) -> bytes:\n"
                    "    if sys.platform == 'win32':\n        raise OSError('POSIX only')\n    return os.pread(fd, 1, 0)\n")

    def check(path: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mypy", "--platform", "win32", "--no-incremental",
                               "--config-file", os.devnull, str(path)], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300)

    failed = check(bad)
    assert failed.returncode == 1 and 'Module has no attribute "pread"' in failed.stdout, failed.stdout
    assert check(good).returncode == 0
