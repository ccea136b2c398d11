"""Single instance on every OS: the real flock here, and Windows' msvcrt.locking with its one call replaced."""
from __future__ import annotations

import functools
import os

import pytest

from daemon import instance
from daemon.instance import AlreadyRunning, InstanceLock
from daemon.platform import lock
from daemon.platform.lock import windows


def test_second_instance_is_refused_with_the_first_ones_pid(tmp_path):
    first, second = InstanceLock(tmp_path), InstanceLock(tmp_path)
    first.acquire()
    try:
        with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}"):
            second.acquire()
    finally:
        first.release()
    second.acquire()  # released: the next one gets it
    second.release()


class FakeMsvcrt:
    """Windows byte-range locks: one holder per (file, offset); mandatory, so remember the offsets."""

    def __init__(self) -> None:
        self.held: dict[tuple[int, int], int] = {}
        self.calls: list[tuple[int, bool]] = []

    def locking(self, fd: int, lock_: bool) -> None:
        key = (os.fstat(fd).st_ino, os.lseek(fd, 0, os.SEEK_CUR))
        self.calls.append((key[1], lock_))
        if lock_:
            if key in self.held and self.held[key] != fd:
                raise PermissionError(13, "Permission denied")  # what msvcrt.locking raises
            self.held[key] = fd
        elif self.held.get(key) == fd:
            del self.held[key]


@pytest.fixture
def fake_windows(monkeypatch):
    fake = FakeMsvcrt()
    monkeypatch.setattr(windows, "_locking", fake.locking)
    monkeypatch.setattr(instance, "try_lock", functools.partial(lock.try_lock, platform="win32"))
    monkeypatch.setattr(instance, "unlock", functools.partial(lock.unlock, platform="win32"))
    return fake


def test_windows_lock_is_far_from_the_pid_so_a_second_instance_can_name_the_first(tmp_path, fake_windows):
    first = InstanceLock(tmp_path)
    first.acquire()
    assert fake_windows.calls == [(windows.LOCK_OFFSET, True)]
    with pytest.raises(AlreadyRunning) as refused:
        InstanceLock(tmp_path).acquire()
    assert refused.value.pid == str(os.getpid())
    first.release()
    assert fake_windows.calls[-1] == (windows.LOCK_OFFSET, False) and not fake_windows.held
    again = InstanceLock(tmp_path)
    again.acquire()  # a crashed holder's lock is gone the same way: Windows drops it at exit
    again.release()


def test_windows_lock_keeps_the_file_position(tmp_path, fake_windows):
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        os.write(fd, b"1234")
        lock.try_lock(fd, platform="win32")
        assert os.lseek(fd, 0, os.SEEK_CUR) == 4
    finally:
        os.close(fd)


def test_windows_module_refuses_to_run_elsewhere():
    with pytest.raises(OSError, match="Windows only"):
        windows._locking(0, True)
