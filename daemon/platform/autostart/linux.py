"""Linux (and other XDG desktops): a .desktop file in $XDG_CONFIG_HOME/autostart.

Freedesktop Desktop Application Autostart Spec: a user file overrides a system-wide one
of the same name (in $XDG_CONFIG_DIRS/autostart); ``Hidden=true`` means "do not start".
GNOME/MATE/Cinnamon's "Startup Applications" toggles ``X-GNOME-Autostart-enabled``
instead, so both are honoured when reading, and both written when disabling.
"""
from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

from .base import APP_ID, APP_NAME, COMMENT, Autostart, check_command, remove_file, write_atomically

# Characters that force quoting of an Exec argument (Desktop Entry Spec, "The Exec key").
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")
_STRING_ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


class LinuxAutostart(Autostart):
    def __init__(self, environ: Mapping[str, str] | None = None, home: Path | None = None,
                 app_id: str = APP_ID) -> None:
        env = os.environ if environ is None else environ
        home = home or Path.home()
        self.user_dir = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "autostart"
        system = env.get("XDG_CONFIG_DIRS") or "/etc/xdg"
        self.system_dirs = [Path(d) / "autostart" for d in system.split(":") if d]
        self.file_name = f"{app_id}.desktop"

    @property
    def path(self) -> Path:
        """The user's entry, the only file this class writes."""
        return self.user_dir / self.file_name

    @property
    def location(self) -> str:
        return str(self.path)

    def enable(self, command: Sequence[str]) -> None:
        write_atomically(self.path, desktop_entry(check_command(command, PurePosixPath)).encode())

    def disable(self) -> None:
        if any(_entry_enabled(d / self.file_name) is not None for d in self.system_dirs):
            # A system-wide entry would still start us: mask it with a hidden user entry.
            write_atomically(self.path, hidden_entry().encode())
        else:
            remove_file(self.path)

    def is_enabled(self) -> bool:
        for directory in (self.user_dir, *self.system_dirs):
            enabled = _entry_enabled(directory / self.file_name)
            if enabled is not None:  # the first file found decides, as the spec says
                return enabled
        return False


def desktop_entry(command: Sequence[str]) -> str:
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",  # 1.5 is unknown to desktop-file-validate 0.26 (bookworm)
        f"Name={APP_NAME}",
        f"Comment={COMMENT}",
        f"Exec={exec_value(command)}",
        "Icon=audio-input-microphone",
        "Terminal=false",
        "X-GNOME-Autostart-enabled=true",
        "X-GNOME-Autostart-Delay=3",  # let the panel (the tray host) come up first
        "X-KDE-autostart-after=panel",
        "",
    ])


def hidden_entry() -> str:
    return "\n".join(["[Desktop Entry]", "Type=Application", f"Name={APP_NAME}", "Hidden=true",
                      "X-GNOME-Autostart-enabled=false", ""])


def exec_value(command: Sequence[str]) -> str:
    """The Exec value: spec quoting per argument, ``%`` doubled, then string escaping."""
    for arg in command:
        if "\n" in arg or "\r" in arg:
            raise ValueError(f"autostart argument {arg!r} contains a line break, which Exec cannot hold")
    return " ".join(_quote(a) for a in command).replace("\\", "\\\\")


def _quote(arg: str) -> str:
    arg = arg.replace("%", "%%")
    if arg and not _RESERVED.intersection(arg):
        return arg
    return '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'


def parse_exec(value: str) -> list[str]:
    """The argv an XDG launcher runs for an Exec value (inverse of ``exec_value``)."""
    text = re.sub(r"\\(.)", lambda m: _STRING_ESCAPES.get(m.group(1), "\\" + m.group(1)), value)
    args: list[str] = []
    current: list[str] = []
    in_arg = quoted = False
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted and ch == "\\" and i + 1 < len(text):
            current.append(text[i + 1])
            i += 1
        elif ch == '"':
            quoted, in_arg = not quoted, True
        elif ch == " " and not quoted:
            if in_arg:
                args.append("".join(current))
            current, in_arg = [], False
        else:
            current.append(ch)
            in_arg = True
        i += 1
    if in_arg:
        args.append("".join(current))
    return [a.replace("%%", "%") for a in args]


def read_entry(path: Path) -> dict[str, str] | None:
    """The [Desktop Entry] keys of ``path``, or None when there is no such file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return {}  # unreadable: treat as present but not enabling anything we know of
    keys, section = {}, ""
    for line in lines:
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Desktop Entry]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            keys[key.strip()] = value.strip()
    return keys


def _entry_enabled(path: Path) -> bool | None:
    keys = read_entry(path)
    if keys is None:
        return None
    hidden = keys.get("Hidden", "false").lower() == "true"
    gnome_off = keys.get("X-GNOME-Autostart-enabled", "true").lower() == "false"
    return not (hidden or gnome_off) and "Exec" in keys
