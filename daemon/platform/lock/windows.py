"""Windows: ``msvcrt.locking`` on one byte at LOCK_OFFSET; Windows drops it when the holder exits.

Windows byte-range locks are mandatory (a locked byte can't be read by anyone else),
so the lock sits far beyond the pid text at offset 0 that a second instance reads to
say who is running; locking past the end of a file is allowed.
"""
from __future__ import annotations

import os
import sys

LOCK_OFFSET = 1 << 20


def _locking(fd: int, lock: bool) -> None:
    if sys.platform != "win32":
        raise OSError("msvcrt.locking is Windows only")
    import msvcrt

    msvcrt.locking(fd, msvcrt.LK_NBLCK if lock else msvcrt.LK_UNLCK, 1)


def _at_lock_byte(fd: int, lock: bool) -> None:
    position = os.lseek(fd, 0, os.SEEK_CUR)
    os.lseek(fd, LOCK_OFFSET, os.SEEK_SET)  # msvcrt.locking locks from the current position
    try:
        _locking(fd, lock)
    finally:
        os.lseek(fd, position, os.SEEK_SET)


def try_lock(fd: int) -> None:
    _at_lock_byte(fd, True)


def unlock(fd: int) -> None:
    _at_lock_byte(fd, False)
