"""An exclusive, non-blocking lock on an open file that the OS drops when its holder dies.

``try_lock(fd)`` raises ``OSError`` when another process holds it. POSIX: ``flock``;
Windows: ``msvcrt.locking`` on one byte far past the data, so other processes can
still read the pid written at the start of the file (Windows locks are mandatory).
Both modules import on every OS and are tested everywhere by replacing their one call.
"""
from __future__ import annotations

import sys

__all__ = ["try_lock", "unlock"]


def _module(platform: str | None):
    if (platform or sys.platform) == "win32":
        from . import windows

        return windows
    from . import posix

    return posix


def try_lock(fd: int, platform: str | None = None) -> None:
    _module(platform).try_lock(fd)


def unlock(fd: int, platform: str | None = None) -> None:
    _module(platform).unlock(fd)
