"""The system tray: pure view, icons and menu model, and backends that render them.

``create_tray`` picks a backend; ``TrayPresenter`` connects it to the event bus. Importing
this package imports no toolkit: pystray is loaded only when a pystray tray is created.
Wiring, in the composition root (main thread)::

    tray = create_tray(actions, settings.tray.backend)        # actions: menu.Actions (app/tray.py)
    presenter = TrayPresenter(tray, initial_view(settings), theme_setting=settings.tray.theme,
                              inputs=input_names, outputs=output_names)
    bus.subscribe(presenter.on_event)                          # any thread
    tray.run(on_ready)                                         # until actions.quit() calls tray.stop()
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Literal

from .base import Frame, TrayBackend, frame_for
from .dummy import DummyTray
from .menu import Actions, MenuSettings, build_menu
from .presenter import TrayPresenter
from .view import TrayView, initial_view, reduce

__all__ = ["Actions", "DummyTray", "Frame", "MenuSettings", "TrayBackend", "TrayPresenter",
           "TrayView", "build_menu", "create_tray", "frame_for", "initial_view", "reduce"]
_LOG = logging.getLogger(__name__)
BackendName = Literal["auto", "pystray", "dummy"]


def create_tray(actions: Actions, backend: BackendName = "auto", *, app_name: str = "sisyphus",
                pystray_backend: str | None = None) -> TrayBackend:
    """A tray backend. "auto" uses pystray when a display exists and it loads, else the dummy.

    "pystray" raises ``TrayUnavailable`` (with what to install) instead of falling back.
    ``pystray_backend`` forces one of pystray's ("appindicator", "gtk", "xorg", ...).
    """
    if backend == "dummy":
        return DummyTray(actions)
    if backend not in ("auto", "pystray"):
        raise ValueError(f"unknown tray backend {backend!r}; expected 'auto', 'pystray' or 'dummy'")
    from .pystray_backend import PystrayTray, TrayUnavailable

    if backend == "pystray":
        return PystrayTray(actions, app_name, pystray_backend)
    if not has_display():
        _LOG.warning("tray: no display (DISPLAY/WAYLAND_DISPLAY unset), running without a tray icon; "
                     "use `sisyphus status` and the control socket instead")
        return DummyTray(actions)
    try:
        return PystrayTray(actions, app_name, pystray_backend)
    except TrayUnavailable as exc:
        _LOG.error("tray: %s Running without a tray icon.", exc)
        return DummyTray(actions)


def has_display(environ: dict[str, str] | None = None, platform: str = sys.platform) -> bool:
    """Whether a tray could show: always on Windows/macOS, with an X or Wayland display elsewhere."""
    env = os.environ if environ is None else environ
    if platform in ("win32", "darwin"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
