"""Windows: a job object with kill-on-close per engine; CTRL_BREAK, then job termination.

Each engine is assigned to its own job with ``JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE``.
Only the daemon holds the job's handle, so when the daemon exits, however it exits,
Windows closes the handle and kills every process in the job: the engine and
anything it started. ``terminate`` sends CTRL_BREAK (the engine runner handles
SIGBREAK and shuts down cleanly); that needs a shared console, so a daemon started
by ``pythonw`` (no console) falls through to ``TerminateJobObject``, Windows' kill of
a whole process tree. Engines started from a console-less daemon get
``CREATE_NO_WINDOW`` so no console window pops up. kernel32 is reached only through
``engines.common.win32.kernel32`` and CTRL_BREAK through ``_ctrl_break``, so tests on
any OS replace those calls.
"""
from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
from typing import Any

from engines.common import win32

from .base import Child, Tie

_LOG = logging.getLogger(__name__)
CREATE_NEW_PROCESS_GROUP = 0x00000200
CREATE_NO_WINDOW = 0x08000000
JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x00002000
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS = 9
EXIT_KILLED = 1


class IoCounters(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "ReadOperationCount", "WriteOperationCount", "OtherOperationCount",
        "ReadTransferCount", "WriteTransferCount", "OtherTransferCount")]


class BasicLimits(ctypes.Structure):
    _fields_ = [("PerProcessUserTimeLimit", ctypes.c_int64), ("PerJobUserTimeLimit", ctypes.c_int64),
                ("LimitFlags", ctypes.c_uint32), ("MinimumWorkingSetSize", ctypes.c_size_t),
                ("MaximumWorkingSetSize", ctypes.c_size_t), ("ActiveProcessLimit", ctypes.c_uint32),
                ("Affinity", ctypes.c_size_t), ("PriorityClass", ctypes.c_uint32),
                ("SchedulingClass", ctypes.c_uint32)]


class ExtendedLimits(ctypes.Structure):  # JOBOBJECT_EXTENDED_LIMIT_INFORMATION
    _fields_ = [("BasicLimitInformation", BasicLimits), ("IoInfo", IoCounters),
                ("ProcessMemoryLimit", ctypes.c_size_t), ("JobMemoryLimit", ctypes.c_size_t),
                ("PeakProcessMemoryUsed", ctypes.c_size_t), ("PeakJobMemoryUsed", ctypes.c_size_t)]


def _ctrl_break(pid: int) -> None:
    if sys.platform != "win32":
        raise OSError("CTRL_BREAK_EVENT exists only on Windows")
    os.kill(pid, signal.CTRL_BREAK_EVENT)


def kill_on_close_job() -> Any:
    """A new job object whose processes all die when its last handle closes."""
    kernel32 = win32.kernel32()
    job = kernel32.CreateJobObjectW(None, None)
    if not job:
        raise OSError(f"CreateJobObject failed: {win32.last_error()}")
    limits = ExtendedLimits()
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
    if not kernel32.SetInformationJobObject(job, JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS,
                                            ctypes.byref(limits), ctypes.sizeof(limits)):
        error = win32.last_error()
        kernel32.CloseHandle(job)
        raise OSError(f"SetInformationJobObject(KILL_ON_JOB_CLOSE) failed: {error}")
    return job


def assign(job: Any, pid: int) -> None:
    kernel32 = win32.kernel32()
    process = kernel32.OpenProcess(win32.PROCESS_SET_QUOTA | win32.PROCESS_TERMINATE, False, pid)
    if not process:
        raise OSError(f"OpenProcess({pid}) failed: {win32.last_error()}")
    try:
        if not kernel32.AssignProcessToJobObject(job, process):
            raise OSError(f"AssignProcessToJobObject({pid}) failed: {win32.last_error()}")
    finally:
        kernel32.CloseHandle(process)


class WindowsTie(Tie):
    dies_with_daemon = True

    def __init__(self) -> None:
        super().__init__()
        self.job: Any = None

    def spawn_kwargs(self) -> dict[str, Any]:
        flags = CREATE_NEW_PROCESS_GROUP  # the child can get CTRL_BREAK without the daemon getting it
        if not win32.kernel32().GetConsoleWindow():
            flags |= CREATE_NO_WINDOW  # pythonw daemon: no console window per engine
        return {"creationflags": flags}

    def adopt(self, child: Child) -> None:
        super().adopt(child)
        try:
            self.job = kill_on_close_job()
            assign(self.job, child.pid)
        except OSError as exc:  # e.g. a parent job that forbids breakaway on old Windows
            _LOG.warning("engine pid %d is not in a job object (%s); only --parent-pid ends it "
                         "if the daemon dies", child.pid, exc)
            self.close()

    def terminate(self) -> None:
        if self.child is None:
            return
        try:
            _ctrl_break(self.child.pid)
        except OSError as exc:  # no shared console (pythonw), or already gone
            _LOG.debug("CTRL_BREAK to pid %d failed (%s); terminating its job", self.child.pid, exc)
            self.kill()

    def kill(self) -> None:
        if self.job is not None and win32.kernel32().TerminateJobObject(self.job, EXIT_KILLED):
            return
        if self.child is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                self.child.kill()  # TerminateProcess: the child alone

    def close(self) -> None:
        if self.job is not None:
            win32.kernel32().CloseHandle(self.job)  # kill-on-close: ends any leftover grandchild
            self.job = None
