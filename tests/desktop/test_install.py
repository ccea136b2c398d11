"""The README's first command, ``installer/install.sh``, on a fresh machine: a new HOME, no display.

Without PortAudio (the probe install.sh uses, pointed at ``false``) and no terminal to ask,
it stops before touching anything with the one command to run. With PortAudio (the harness
machine has libportaudio2 and a PulseAudio server), it installs the app and an engine venv
into the new HOME, ``sisyphus doctor`` finds the microphone and the speakers, and with nothing
listening at the default LLM address ``--yes`` sets up the embedded LLM engine too, and the
first ``sisyphus run`` answers a spoken question with speech (tests/desktop/test_first_answer.py).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _fresh_env(home: Path, **extra: str) -> dict[str, str]:
    keep = ("PATH", "PULSE_SERVER", "XDG_RUNTIME_DIR", "LANG", "PYENV_ROOT", "PIP_FIND_LINKS", "PIP_CERT",
            "PIP_DEFAULT_TIMEOUT", "PIP_DISABLE_PIP_VERSION_CHECK")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if ".local/bin" not in p)
    return {**env, "HOME": str(home), **extra}  # no DISPLAY, no XDG_* dirs: a new user's defaults


def _install(home: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / "installer" / "install.sh"), *args], env=_fresh_env(home, **extra),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)


def test_without_portaudio_it_stops_with_the_one_command_to_run(tmp_path: Path) -> None:
    done = _install(tmp_path, SISYPHUS_PORTAUDIO_PROBE="false")
    assert done.returncode == 2, done.stderr
    sudo = "" if os.getuid() == 0 else "sudo "
    lines = done.stderr.strip().splitlines()
    assert lines == [f"== install.sh: PortAudio is missing: run  {sudo}apt-get install -y libportaudio2  then run "
                     f"{REPO}/installer/install.sh again (sisyphus can neither hear nor speak without it)"]
    assert not (tmp_path / ".local" / "bin" / "sisyphus").exists()
    assert not (tmp_path / ".local" / "share" / "sisyphus" / "app").exists()

# With PortAudio, the whole README path (install, doctor, the first spoken answer) is one test, so CI builds
# the fresh HOME's venvs once: tests/desktop/test_first_answer.py.
