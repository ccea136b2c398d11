"""POSIX: ``flock``. The kernel drops it when the holder dies, even by SIGKILL."""
from __future__ import annotations

import sys


def _flock(fd: int, exclusive: bool) -> None:
    if sys.platform == "win32":
        raise OSError("flock is POSIX only")
    import fcntl

    fcntl.flock(fd, (fcntl.LOCK_EX | fcntl.LOCK_NB) if exclusive else fcntl.LOCK_UN)


def try_lock(fd: int) -> None:
    _flock(fd, True)


def unlock(fd: int) -> None:
    _flock(fd, False)
