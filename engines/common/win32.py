"""kernel32 through ctypes, with the prototypes we use: the one Windows call point.

The daemon (job objects, daemon/platform/process/windows.py) and the engines (the
parent watch, lifeline.py) reach Windows only through ``kernel32()``, so tests on
any OS replace that one function with a fake. Handles are pointer-sized: every
function returning one gets ``restype = c_void_p`` (the ctypes default, a C int,
would cut 64-bit handles).
"""
from __future__ import annotations

import ctypes
import functools
import sys
from typing import Any

SYNCHRONIZE = 0x00100000
PROCESS_TERMINATE = 0x0001
PROCESS_SET_QUOTA = 0x0100
WAIT_TIMEOUT = 0x102


@functools.lru_cache(maxsize=1)
def kernel32() -> Any:
    if sys.platform != "win32":
        raise OSError("kernel32 exists only on Windows")
    from ctypes import wintypes

    k = ctypes.WinDLL("kernel32", use_last_error=True)
    handle, dword, bool_ = wintypes.HANDLE, wintypes.DWORD, wintypes.BOOL
    protos = {
        "CreateJobObjectW": (handle, [ctypes.c_void_p, wintypes.LPCWSTR]),
        "SetInformationJobObject": (bool_, [handle, ctypes.c_int, ctypes.c_void_p, dword]),
        "AssignProcessToJobObject": (bool_, [handle, handle]),
        "TerminateJobObject": (bool_, [handle, ctypes.c_uint]),
        "OpenProcess": (handle, [dword, bool_, dword]),
        "WaitForSingleObject": (dword, [handle, dword]),
        "CloseHandle": (bool_, [handle]),
        "GetConsoleWindow": (wintypes.HWND, []),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(k, name)
        fn.restype, fn.argtypes = restype, argtypes
    return k


def last_error() -> str:
    """The calling thread's last Windows error, as text (for messages)."""
    if sys.platform != "win32":
        return "unknown error"
    code = ctypes.get_last_error()
    return f"{ctypes.FormatError(code).strip()} (error {code})"
