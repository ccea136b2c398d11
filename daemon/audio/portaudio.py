"""sounddevice (and with it PortAudio) imported under a lock, once it succeeds.

Two threads importing sounddevice at once while PortAudio is missing could see the
half-initialised module (``module 'sounddevice' has no attribute 'PortAudioError'``).
Here one caller imports it while the others wait; later callers get the loaded module,
or a clear error naming the command that installs PortAudio on this distribution.
"""
from __future__ import annotations

import platform
import sys
import threading
from types import ModuleType

from .devices import AudioError

_LOCK = threading.Lock()
# Distribution (os-release ID or ID_LIKE) -> the command that installs PortAudio.
INSTALL = {"debian": "sudo apt install libportaudio2", "ubuntu": "sudo apt install libportaudio2",
           "fedora": "sudo dnf install portaudio", "rhel": "sudo dnf install portaudio",
           "arch": "sudo pacman -S portaudio", "opensuse": "sudo zypper install portaudio"}


def load() -> ModuleType:
    """The sounddevice module; AudioError with what to install when PortAudio cannot be loaded.
    A failed import leaves nothing behind, so a later call (after installing PortAudio) can succeed."""
    with _LOCK:  # every import of sounddevice goes through here: one at a time
        try:
            import sounddevice
        except OSError as exc:
            raise AudioError(f"PortAudio not found ({exc}): {install_hint()}") from None
        except ImportError as exc:
            raise AudioError(f"sounddevice is not installed ({exc}): reinstall sisyphus (installer/install.sh)") \
                from None
    return sounddevice


def install_hint(os_release: dict[str, str] | None = None, plat: str = sys.platform) -> str:
    if plat == "darwin":
        return "reinstall sounddevice (its macOS wheel bundles PortAudio): pip install --force-reinstall sounddevice"
    if plat == "win32":
        return "reinstall sounddevice (its Windows wheel bundles PortAudio): pip install --force-reinstall sounddevice"
    if os_release is None:
        try:
            os_release = platform.freedesktop_os_release()
        except OSError:
            os_release = {}
    ids = [os_release.get("ID", "")] + os_release.get("ID_LIKE", "").split()
    for name in ids:
        if name in INSTALL:
            return f"install PortAudio: {INSTALL[name]}"
    return "install libportaudio2 (Debian/Ubuntu: sudo apt install libportaudio2; Fedora: sudo dnf install " \
           "portaudio; Arch: sudo pacman -S portaudio)"
