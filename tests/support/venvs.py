"""Where the test suite finds the engine venvs that ``.ci/run`` builds with installer.venvs."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENVS = Path(os.environ.get("SISYPHUS_TEST_VENVS", REPO / ".cache" / "venvs"))


def engine_python(name: str) -> Path:
    """The python of engine venv ``name``; skipped locally when absent, a failure in CI."""
    python = VENVS / name / "bin" / "python"
    if not python.exists():
        hint = f"build it with: python -m installer.venvs {name} {VENVS / name} --editable"
        if os.environ.get("CI"):
            pytest.fail(f"engine venv {name!r} missing at {python}; {hint}")
        pytest.skip(f"engine venv {name!r} not built; {hint}")
    return python
