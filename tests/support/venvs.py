"""Where the test suite finds the engine venvs that ``.ci/run`` builds with installer.venvs."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENVS = Path(os.environ.get("SISYPHUS_TEST_VENVS", REPO / ".cache" / "venvs"))


def engine_python(name: str) -> Path:
    """The python of engine venv ``name``; skipped locally when absent, a failure in CI."""
    from daemon.paths import venv_python

    python = venv_python(VENVS / name)  # Scripts\python.exe on Windows
    if not python.exists():
        hint = f"build it with: python -m installer.venvs {name} {VENVS / name} --editable"
        if os.environ.get("CI"):
            pytest.fail(f"engine venv {name!r} missing at {python}; {hint}")
        pytest.skip(f"engine venv {name!r} not built; {hint}")
    return python


def run_check(python: Path, module: str, *args: object, env: dict | None = None, timeout: float = 600) -> dict:
    """Run ``python -m module args`` in this checkout (an engine venv's python) and return the JSON object
    it prints last; fail with its stderr if it exits non-zero."""
    import json
    import subprocess

    done = subprocess.run([str(python), "-m", module, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env or {**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
