"""``--parent-pid``: notice that the daemon that started this engine is gone.

The daemon also ties its children to itself (``PR_SET_PDEATHSIG`` on Linux, a job
object on Windows, see daemon/platform/process/); this watch is the portable
second line, and the only one on macOS. POSIX: a child whose parent died is
re-parented, so ``getppid()`` changes. Windows: a handle to the parent, opened once
(so a reused pid can't fool us), is signalled when the parent exits.
"""
from __future__ import annotations

import os
import sys
from typing import Callable

from . import win32


def parent_watch(pid: int, platform: str = sys.platform) -> Callable[[], bool]:
    """A cheap ``alive()`` check for process ``pid`` (this process's parent)."""
    if platform == "win32":
        return _windows_watch(pid)
    return lambda: os.getppid() == pid


def _windows_watch(pid: int) -> Callable[[], bool]:
    kernel32 = win32.kernel32()
    handle = kernel32.OpenProcess(win32.SYNCHRONIZE, False, pid)
    if not handle:
        return lambda: False  # already gone (or never ours to watch)
    return lambda: bool(kernel32.WaitForSingleObject(handle, 0) == win32.WAIT_TIMEOUT)
