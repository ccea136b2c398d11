"""One daemon per user: an exclusive lock in the runtime dir.

The kernel drops a ``flock`` when its holder dies, even by SIGKILL, so there is no
stale-PID guessing: whoever holds the lock owns the runtime dir, and any socket
left there by a killed daemon is stale and removed.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path


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
            _lock(fd)
        except OSError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise AlreadyRunning(pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def _lock(fd: int) -> None:
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
