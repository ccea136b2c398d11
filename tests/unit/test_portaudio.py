"""The sounddevice/PortAudio import: one at a time, and a missing PortAudio named with its fix."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from daemon.audio import portaudio

REPO = Path(__file__).resolve().parents[2]

# Eight threads load sounddevice at once, as capture and playback do at start-up. With
# PortAudio hidden (the same OSError sounddevice raises when the library is absent), every
# one must get the clear AudioError, never a half-initialised module.
RACE = """
import ctypes.util, sys, threading
if sys.argv[1] == "hidden":
    ctypes.util.find_library = lambda name: None
from daemon.audio import devices
results, barrier = [], threading.Barrier(8)
def load():
    barrier.wait()
    try:
        results.append("ok" if devices.load_sounddevice().PortAudioError else "?")
    except Exception as exc:
        results.append(f"{type(exc).__name__}: {exc}")
threads = [threading.Thread(target=load) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
print("\\n".join(results))
"""


def _race(mode: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", RACE, mode], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_concurrent_loads_without_portaudio_all_get_the_clear_error() -> None:
    for _ in range(5):  # a bare `import sounddevice` in 8 threads fails like this in about 2 runs of 5
        lines = _race("hidden")
        assert len(lines) == 8
        for line in lines:
            assert line.startswith("AudioError: PortAudio not found (PortAudio library not found): install"), line


def test_concurrent_loads_with_portaudio_all_get_the_module() -> None:
    try:
        portaudio.load()
    except portaudio.AudioError as exc:
        pytest.skip(f"PortAudio is not installed here ({exc})")
    assert _race("present") == ["ok"] * 8


@pytest.mark.parametrize(("release", "command"), [
    ({"ID": "debian"}, "sudo apt install libportaudio2"),
    ({"ID": "linuxmint", "ID_LIKE": "ubuntu debian"}, "sudo apt install libportaudio2"),
    ({"ID": "fedora"}, "sudo dnf install portaudio"),
    ({"ID": "endeavouros", "ID_LIKE": "arch"}, "sudo pacman -S portaudio"),
])
def test_the_hint_names_this_distributions_command(release: dict, command: str) -> None:
    assert portaudio.install_hint(release, "linux") == f"install PortAudio: {command}"


def test_unknown_systems_get_every_command_and_other_oses_a_reinstall() -> None:
    hint = portaudio.install_hint({"ID": "gentoo"}, "linux")
    assert "sudo apt install libportaudio2" in hint and "dnf" in hint and "pacman" in hint
    assert "macOS wheel bundles PortAudio" in portaudio.install_hint({}, "darwin")
    assert "Windows wheel" in portaudio.install_hint({}, "win32")
