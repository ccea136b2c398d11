"""Windows: a value under HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run.

Per user, no admin rights, and listed in Task Manager > Startup where users can turn it
off. ``python.exe`` is swapped for its sibling ``pythonw.exe`` so no console window opens
at login. All registry access is in ``_run_key`` so tests on any OS replace that one call.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import PureWindowsPath
from typing import Sequence

from .base import APP_NAME, Autostart, AutostartError, check_command

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"


def _run_key(op: str, name: str, value: str | None = None) -> str | None:
    """Get, set or delete ``name`` under HKCU's Run key; get returns None when absent."""
    if sys.platform != "win32":
        raise OSError("the registry exists only on Windows")
    import winreg  # Windows only: imported here so this module loads everywhere

    access = winreg.KEY_QUERY_VALUE if op == "get" else winreg.KEY_SET_VALUE
    try:
        with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, access) as key:
            if op == "set":
                winreg.SetValueEx(key, name, 0, winreg.REG_SZ, value)
            elif op == "delete":
                winreg.DeleteValue(key, name)
            else:
                return str(winreg.QueryValueEx(key, name)[0])
    except FileNotFoundError:
        return None
    return None


class WindowsAutostart(Autostart):
    def __init__(self, value_name: str = APP_NAME) -> None:
        self.value_name = value_name

    @property
    def location(self) -> str:
        return f"HKEY_CURRENT_USER\\{RUN_KEY}\\{self.value_name}"

    def enable(self, command: Sequence[str]) -> None:
        args = check_command(command, absolute=PureWindowsPath)
        self._call("set", subprocess.list2cmdline([windowless(args[0]), *args[1:]]))

    def disable(self) -> None:
        self._call("delete")

    def is_enabled(self) -> bool:
        return bool(self._call("get"))

    def _call(self, op: str, value: str | None = None) -> str | None:
        try:
            return _run_key(op, self.value_name, value)
        except OSError as exc:
            raise AutostartError(f"cannot {op} the value {self.value_name!r} under HKEY_CURRENT_USER\\{RUN_KEY}: "
                                 f"{exc}; check it with regedit or Task Manager > Startup") from exc


def windowless(interpreter: str) -> str:
    """``...\\python.exe`` becomes ``...\\pythonw.exe``; anything else is kept."""
    path = PureWindowsPath(interpreter)
    if path.name.lower() == "python.exe":
        return str(path.with_name("pythonw.exe"))
    return interpreter
