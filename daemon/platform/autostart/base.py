"""Start the daemon at login: the neutral interface every platform module implements.

Each platform writes one per-user entry (no admin rights): an XDG autostart file on
Linux, a value under the HKCU Run key on Windows, a LaunchAgent on macOS. ``enable``
takes the full command line, whose first element must be an absolute interpreter path
because login sessions start with a minimal PATH and no virtual environment activated.
"""
from __future__ import annotations

import abc
import os
from pathlib import Path, PurePath
from typing import Sequence

APP_ID = "io.github.sisyphus.Sisyphus"  # reverse-DNS: .desktop file name, launchd Label
APP_NAME = "Sisyphus"
COMMENT = "Push-to-talk voice assistant"


class AutostartError(OSError):
    """Autostart could not be changed; the message names the file or key and what to do.

    An OSError, since it is one (a file or registry write), so callers catching OSError see it.
    """


class Autostart(abc.ABC):
    @abc.abstractmethod
    def enable(self, command: Sequence[str]) -> None:
        """Start ``command`` at every login from now on (replacing an older entry)."""

    @abc.abstractmethod
    def disable(self) -> None:
        """Stop starting at login; a no-op when not enabled."""

    @abc.abstractmethod
    def is_enabled(self) -> bool:
        """Whether the next login will start the daemon."""

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the entry lives (a file or a registry value), for messages and ``status``."""


def check_command(command: Sequence[str], absolute: type[PurePath] = PurePath) -> list[str]:
    """The command as a list, refusing ones that would not run from a bare login session.

    ``absolute`` is the path flavour of the target OS, so each module checks its own rules on any OS.
    """
    args = [str(a) for a in command]
    if not args:
        raise ValueError("autostart command is empty; pass [sys.executable, '-m', 'daemon', ...]")
    if not absolute(args[0]).is_absolute():
        raise ValueError(f"autostart command must start with an absolute path, got {args[0]!r}: "
                         "login sessions have no venv on PATH; pass sys.executable")
    return args


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` in one step, so a crash never leaves a half-written entry."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise AutostartError(f"cannot write the autostart entry {path}: {exc.strerror}; "
                             f"check that {path.parent} is writable") from exc


def remove_file(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise AutostartError(f"cannot remove the autostart entry {path}: {exc.strerror}; "
                             "delete it by hand to stop starting at login") from exc
