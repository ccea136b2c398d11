"""The real tray, on pystray: AppIndicator/GTK on Linux, Win32 on Windows, AppKit on macOS.

pystray picks its backend once, at import, from ``PYSTRAY_BACKEND``, and its xorg
fallback connects to X at import (so ``import pystray`` fails without a display). We
choose the backend ourselves before that import, preferring the GTK-based ones: the
xorg backend has no menu and hangs when updated from another thread (research:
desktop-ci.md 1.3). Every update runs on the toolkit's own thread (GTK: GLib.idle_add).
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
import threading
from types import ModuleType
from typing import Any, Callable

from .base import Frame, TrayBackend, notify_send
from .icons import render
from .menu import Actions, Item, Kind

_LOG = logging.getLogger(__name__)
LINUX_ORDER = ("appindicator", "gtk", "xorg")
GI_HINT = ("install PyGObject: Debian/Ubuntu `apt install python3-gi gir1.2-gtk-3.0 "
           "gir1.2-ayatanaappindicator3-0.1`, or in a venv `pip install 'PyGObject<3.50'` "
           "(needs libgirepository1.0-dev libcairo2-dev pkg-config)")


class TrayUnavailable(RuntimeError):
    """No pystray backend can run here; the message says why and what to install."""


def choose_backend(preferred: str | None = None) -> str:
    """The pystray backend name to use: ``preferred``, $PYSTRAY_BACKEND, or the best available."""
    name = preferred or os.environ.get("PYSTRAY_BACKEND")
    if name:
        return name
    if sys.platform == "win32":
        return "win32"
    if sys.platform == "darwin":
        return "darwin"
    for candidate in LINUX_ORDER[:-1]:
        error = _gtk_backend_error(candidate)
        if error is None:
            return candidate
        _LOG.info("pystray %s backend unavailable: %s", candidate, error)
    _LOG.warning("tray: falling back to pystray's xorg backend, which has no menu and can hang "
                 "when updated; to get the full tray, %s", GI_HINT)
    return "xorg"


def _gtk_backend_error(name: str) -> str | None:
    """Why pystray's gtk/appindicator backend cannot load, or None; imports gi, never X."""
    if importlib.util.find_spec("gi") is None:
        return "PyGObject (gi) is not installed"
    try:
        import gi

        gi.require_version("Gtk", "3.0")
        if name == "appindicator":
            _require_any(gi, ("AppIndicator3", "AyatanaAppIndicator3"))
    except (ImportError, ValueError) as exc:
        return str(exc)
    return None


def _require_any(gi: Any, namespaces: tuple[str, ...]) -> None:
    for namespace in namespaces:
        try:
            gi.require_version(namespace, "0.1")
            return
        except ValueError:
            continue
    raise ValueError(f"none of the typelibs {', '.join(namespaces)} is installed "
                     "(Debian: gir1.2-ayatanaappindicator3-0.1)")


def load_backend(name: str) -> ModuleType:
    """Import ``pystray._<name>`` without letting pystray try (and fail on) other backends."""
    if "pystray" not in sys.modules:
        saved = os.environ.get("PYSTRAY_BACKEND")
        os.environ["PYSTRAY_BACKEND"] = name  # pystray reads it at import only
        try:
            importlib.import_module("pystray")
        except Exception as exc:  # the xorg backend raises Xlib errors, not ImportError
            raise TrayUnavailable(f"pystray's {name} backend cannot start: {exc}. " + _hint(name)) from exc
        finally:
            if saved is None:
                os.environ.pop("PYSTRAY_BACKEND", None)
            else:
                os.environ["PYSTRAY_BACKEND"] = saved
    try:
        return importlib.import_module(f"pystray._{name}")
    except Exception as exc:
        raise TrayUnavailable(f"pystray's {name} backend cannot start: {exc}. " + _hint(name)) from exc


def _hint(name: str) -> str:
    if name in ("appindicator", "gtk"):
        return "To fix: " + GI_HINT + "."
    return "Check that DISPLAY points to a running X server with a system tray."


class PystrayTray(TrayBackend):
    def __init__(self, actions: Actions, app_name: str = "sisyphus", backend: str | None = None) -> None:
        super().__init__(actions)
        self.name = choose_backend(backend)
        self._pystray = load_backend(self.name)
        self._base = importlib.import_module("pystray._base")
        self._icon: Any = None
        self._app_name = app_name
        self._dispatch = self._make_dispatcher()
        self.has_menu = self.name != "xorg"
        self._stopping = False

    def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Run pystray's loop on this (main) thread until ``stop``."""
        frame = self.shown
        if frame is None:
            raise RuntimeError("call show(frame) before run(): the tray needs an icon to show")
        self._icon = self._pystray.Icon(self._app_name, render(frame.icon), self._title(frame),
                                        menu=self._to_menu(frame.menu))

        def setup(icon: Any) -> None:
            icon.visible = True
            latest = self.shown  # frames shown while the icon was being created were dropped
            if latest is not None and latest != frame:
                self._apply(latest, frame)
            if on_ready:
                on_ready()
            if self._stopping:  # stop() came before the icon existed
                self._dispatch(icon.stop)

        try:
            self._icon.run(setup=setup)
        except Exception as exc:  # gtk's _finalize raises when no notification daemon runs
            _LOG.info("tray loop ended with %r (harmless at exit without a notification daemon)", exc)

    def stop(self) -> None:
        self._stopping = True
        if self._icon is not None:
            self._dispatch(self._icon.stop)

    def _apply(self, frame: Frame, previous: Frame | None) -> None:
        if self._icon is not None:
            self._dispatch(lambda: self._apply_now(frame, previous))

    def _apply_now(self, frame: Frame, previous: Frame | None) -> None:
        if previous is None or frame.icon != previous.icon:
            self._icon.icon = render(frame.icon)
        if previous is None or frame.title != previous.title:
            self._icon.title = self._title(frame)
        if self.has_menu and (previous is None or frame.menu != previous.menu):
            self._icon.menu = self._to_menu(frame.menu)

    def _title(self, frame: Frame) -> str:
        if self.name != "xorg":
            return frame.title
        # python-xlib writes WM_NAME as latin-1 and raises on anything else ("…", "—")
        return frame.title.replace("…", "...").replace("—", "-").encode("latin-1", "replace").decode("latin-1")

    def notify(self, title: str, text: str) -> None:
        _LOG.warning("%s: %s", title, text)
        if notify_send(title, text) or self._icon is None or not self._icon.HAS_NOTIFICATION:
            return
        self._dispatch(lambda: self._icon.notify(text, title))

    def _to_menu(self, items: tuple[Item, ...]) -> Any:
        return self._base.Menu(*(self._to_item(i) for i in items))

    def _to_item(self, item: Item) -> Any:
        base = self._base
        if item.kind is Kind.SEPARATOR:
            return base.Menu.SEPARATOR
        if item.kind is Kind.SUBMENU:
            return base.MenuItem(item.text, self._to_menu(item.children), enabled=item.enabled)
        checked = (lambda _: item.checked) if item.kind in (Kind.RADIO, Kind.CHECK) else None
        return base.MenuItem(item.text, lambda: self.activate(item), checked=checked,
                             radio=item.kind is Kind.RADIO, enabled=item.enabled)

    def _make_dispatcher(self) -> Callable[[Callable[[], None]], None]:
        """How to run a function on the tray's UI thread for this backend."""
        if self.name in ("appindicator", "gtk"):
            from gi.repository import GLib

            GLib.set_prgname(self._app_name)  # the icon window's WM_CLASS, whatever the script
            return lambda fn: GLib.idle_add(_once(fn))
        if self.name == "darwin":
            from PyObjCTools import AppHelper

            return AppHelper.callAfter
        return _Serial().submit  # win32 marshals itself; xorg at least gets one updater


def _once(fn: Callable[[], None]) -> Callable[[], bool]:
    """GLib idle callbacks repeat while they return True; run ``fn`` once and log errors."""
    def callback() -> bool:
        try:
            fn()
        except Exception:
            _LOG.exception("tray update failed")
        return False

    return callback


class _Serial:
    """Runs submitted functions on the caller's thread, one at a time.

    Backends without a documented hand-off (win32 posts its own messages; xorg marshals
    through X ClientMessages) still must not be entered by two threads at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[], None]) -> None:
        with self._lock:
            _once(fn)()
