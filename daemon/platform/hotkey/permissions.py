"""macOS privacy permissions the global hotkey needs, asked of the OS (``sisyphus doctor`` shows them).

pynput's keyboard listener is an event tap: macOS delivers it no keys until the user allows
the program that runs Python (Terminal, iTerm, or the python binary itself when started at
login) under System Settings > Privacy & Security > **Accessibility** and, since 10.15,
**Input Monitoring**. The tray icon needs no permission. Both questions go through
``_ask_macos`` so tests on any OS replace that one call.
"""
from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass

APP_SERVICES = "/System/Library/Frameworks/ApplicationServices.framework/ApplicationServices"
IOKIT = "/System/Library/Frameworks/IOKit.framework/IOKit"
LISTEN_EVENT = 1  # kIOHIDRequestTypeListenEvent
GRANTED = 0  # kIOHIDAccessTypeGranted
WHERE = "System Settings > Privacy & Security > {}: add and enable the app that runs sisyphus " \
        "(your terminal, or {python} when it starts at login), then restart sisyphus"


@dataclass(frozen=True)
class Permission:
    name: str
    granted: bool | None  # None: macOS could not say

    def fix(self) -> str:
        return "" if self.granted else WHERE.format(self.name, python=sys.executable)


def _ask_macos() -> tuple[bool | None, bool | None]:
    """(Accessibility trusted, Input Monitoring granted) for this process."""
    if sys.platform != "darwin":
        raise OSError("these permissions exist only on macOS")
    trusted: bool | None = None
    listen: bool | None = None
    try:
        trusted = bool(ctypes.cdll.LoadLibrary(APP_SERVICES).AXIsProcessTrusted())
    except (OSError, AttributeError):
        pass
    try:
        listen = ctypes.cdll.LoadLibrary(IOKIT).IOHIDCheckAccess(LISTEN_EVENT) == GRANTED
    except (OSError, AttributeError):  # before macOS 10.15: no Input Monitoring to grant
        pass
    return trusted, listen


def macos_permissions() -> list[Permission]:
    trusted, listen = _ask_macos()
    return [Permission("Accessibility", trusted), Permission("Input Monitoring", listen)]
