"""Tying engine processes to the daemon and stopping them: ``new_tie()`` for this OS.

Linux: ``PR_SET_PDEATHSIG`` + a process group; macOS and other POSIX: a process
group (the engines' ``--parent-pid`` watch covers a daemon that dies); Windows: a
job object with kill-on-close. Every module imports on every OS (their OS calls sit
in one function each), so all of them are tested everywhere.
"""
from __future__ import annotations

import sys

from .base import Child, Tie
from .dummy import DummyTie

__all__ = ["Child", "DummyTie", "Tie", "new_tie"]


def new_tie(platform: str = sys.platform) -> Tie:
    """A fresh tie for one child process, for ``platform`` (default: this one)."""
    if platform == "win32":
        from .windows import WindowsTie

        return WindowsTie()
    if platform.startswith("linux"):
        from .posix import LinuxTie

        return LinuxTie()
    if platform == "darwin" or platform.startswith(("freebsd", "openbsd", "netbsd")):
        from .posix import PosixTie

        return PosixTie()
    return DummyTie()
