"""macOS: a LaunchAgent plist in ~/Library/LaunchAgents, loaded by launchd at login.

``KeepAlive = {SuccessfulExit: false}`` restarts the daemon after a crash but not after
the user chose Quit (plain ``true`` would respawn it). Enabling does not load the agent
now, because that would start a second daemon beside the running one; it only clears a
``launchctl disable`` override left from earlier, so the next login starts it. All
launchctl calls go through ``_launchctl`` so tests on any OS replace that one call.
"""
from __future__ import annotations

import logging
import os
import plistlib
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any, Sequence

from .base import APP_ID, APP_NAME, Autostart, check_command, remove_file, write_atomically

_LOG = logging.getLogger(__name__)


def _launchctl(*args: str) -> int:
    """Run ``launchctl`` and return its exit status (never raises for a failed command)."""
    try:
        done = subprocess.run(["launchctl", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _LOG.warning("launchctl %s could not run: %s", " ".join(args), exc)
        return -1
    if done.returncode:
        _LOG.warning("launchctl %s failed (%d): %s", " ".join(args), done.returncode, done.stderr.strip())
    return done.returncode


class MacAutostart(Autostart):
    def __init__(self, home: Path | None = None, label: str = APP_ID) -> None:
        self.home = home or Path.home()
        self.label = label

    @property
    def path(self) -> Path:
        return self.home / "Library" / "LaunchAgents" / f"{self.label}.plist"

    @property
    def location(self) -> str:
        return str(self.path)

    def enable(self, command: Sequence[str]) -> None:
        args = check_command(command, PurePosixPath)
        write_atomically(self.path, plistlib.dumps(launch_agent(self.label, args, self.home)))
        _launchctl("enable", self._service())

    def disable(self) -> None:
        remove_file(self.path)

    def is_enabled(self) -> bool:
        try:
            agent = plistlib.loads(self.path.read_bytes())
        except FileNotFoundError:
            return False
        except (OSError, plistlib.InvalidFileException, ValueError) as exc:
            _LOG.warning("autostart entry %s is unreadable (%s); enable autostart again to rewrite it",
                         self.path, exc)
            return False
        return bool(agent.get("RunAtLoad")) and not agent.get("Disabled", False)

    def _service(self) -> str:
        return f"gui/{os.getuid() if hasattr(os, 'getuid') else 0}/{self.label}"


def launch_agent(label: str, command: Sequence[str], home: Path) -> dict[str, Any]:
    logs = home / "Library" / "Logs" / APP_NAME
    return {
        "Label": label,
        "ProgramArguments": list(command),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ProcessType": "Interactive",  # a UI app: no background throttling
        "LimitLoadToSessionType": "Aqua",  # graphical logins only, not ssh
        "StandardOutPath": str(logs / "launchd.out.log"),
        "StandardErrorPath": str(logs / "launchd.err.log"),
    }
