"""Start at login: ``get_autostart()`` returns this platform's implementation.

Every platform module imports on every OS (OS calls are imported inside one function
each), so all of them are tested everywhere. ``SISYPHUS_AUTOSTART=dummy`` selects the
in-memory one, e.g. for a test daemon that must not touch the user's login items.
"""
from __future__ import annotations

import os
import sys

from .base import APP_ID, Autostart, AutostartError
from .dummy import DummyAutostart

__all__ = ["APP_ID", "Autostart", "AutostartError", "DummyAutostart", "daemon_command", "get_autostart"]


def get_autostart(platform: str | None = None) -> Autostart:
    """The implementation for ``platform`` (default: this one, or $SISYPHUS_AUTOSTART)."""
    platform = platform or os.environ.get("SISYPHUS_AUTOSTART") or sys.platform
    if platform == "dummy":
        return DummyAutostart()
    if platform == "win32":
        from .windows import WindowsAutostart

        return WindowsAutostart()
    if platform == "darwin":
        from .macos import MacAutostart

        return MacAutostart()
    from .linux import LinuxAutostart  # Linux and the BSDs follow the XDG spec

    return LinuxAutostart()


def daemon_command(config: str | os.PathLike | None = None) -> list[str]:
    """This interpreter running ``sisyphus [--config FILE] run``: what ``enable`` should get.

    The interpreter path is absolute and the module is named, so the entry works without
    the venv on PATH (a login session's PATH is minimal and has no $SISYPHUS_CONFIG).
    """
    return [sys.executable, "-m", "daemon.cli", *(["--config", os.fspath(config)] if config else []), "run"]
