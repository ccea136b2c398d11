"""One daemon per user: an exclusive lock in the runtime dir.

The OS drops the lock when its holder dies (Linux/macOS ``flock``, Windows
``msvcrt.locking``; see daemon/platform/lock/), even by SIGKILL or TerminateProcess,
so there is no stale-PID guessing: whoever holds the lock owns the runtime dir, and
any socket or endpoint file left there by a killed daemon is stale and replaced.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .platform.lock import try_lock, unlock


class AlreadyRunning(Exception):
    def __init__(self, pid: str) -> None:
        super().__init__(f"sisyphus is already running (pid {pid or 'unknown'}); "
                         "use `sisyphus status`, or `sisyphus quit` to stop it")
        self.pid = pid


class InstanceLock:
    def __init__(self, runtime_dir: Path) -> None:
        self.path = runtime_dir / "daemon.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try_lock(fd)
        except OSError:
            pid = _read_at_start(fd)
            os.close(fd)
            raise AlreadyRunning(pid) from None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
                unlock(self._fd)
            os.close(self._fd)
            self._fd = None


def _read_at_start(fd: int) -> str:
    with contextlib.suppress(OSError):
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 32).decode(errors="replace").strip()
    return ""
