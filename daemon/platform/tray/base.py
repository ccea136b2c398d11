"""The neutral tray interface: a backend shows frames and calls actions, nothing more.

A ``Frame`` is everything visible (icon key, tooltip, menu, pending notice), computed from
a ``TrayView`` by ``frame_for``. Backends receive frames from any thread; each hands them
to its UI thread its own way and skips frames equal to the last one shown.
"""
from __future__ import annotations

import abc
import logging
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Callable, Sequence

from .icons import IconKey, make_key, resolve_theme
from .menu import Actions, Item, MenuSettings, build_menu, invoke
from .view import Notice, TrayView

_LOG = logging.getLogger(__name__)
ICON_SIZE = 64  # trays scale down; 64 px keeps HiDPI panels sharp


@dataclass(frozen=True)
class Frame:
    icon: IconKey
    title: str
    menu: tuple[Item, ...]
    notice: Notice | None = None


def frame_for(view: TrayView, inputs: Sequence[str] = (), outputs: Sequence[str] = (),
              theme_setting: str = "auto", size: int = ICON_SIZE) -> Frame:
    """What the tray shows for ``view``; pure."""
    theme = resolve_theme(str(view.settings.get("tray.theme", theme_setting)))
    icon = make_key(view.state, view.health, theme, view.level, size)
    status = [view.title.split("\n", 1)[0]] + ([view.failure] if view.failure else [])
    menu = build_menu(view.voices, inputs, outputs, MenuSettings.from_mapping(view.settings), status)
    return Frame(icon, view.title, menu, view.notice)


class TrayBackend(abc.ABC):
    """One tray icon. ``run`` owns the calling (main) thread until ``stop``."""

    name = "base"
    has_menu = True

    def __init__(self, actions: Actions) -> None:
        self.actions = actions
        self._lock = threading.Lock()
        self._shown: Frame | None = None
        self._notified = 0

    @abc.abstractmethod
    def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """Show the icon and block until ``stop``.

        ``on_ready`` runs once the icon is visible, on a helper thread (pystray's setup
        thread), so it may start the core thread but must not block for long.
        """

    @abc.abstractmethod
    def stop(self) -> None:
        """Remove the icon and make ``run`` return; callable from any thread."""

    @abc.abstractmethod
    def _apply(self, frame: Frame, previous: Frame | None) -> None:
        """Make ``frame`` visible; called from any thread, so hand off as the toolkit needs."""

    def show(self, frame: Frame) -> None:
        """Show ``frame`` (thread-safe); equal frames are skipped, new notices shown once."""
        with self._lock:
            previous, self._shown = self._shown, frame
            notice = frame.notice if frame.notice and frame.notice.serial > self._notified else None
            if notice:
                self._notified = notice.serial
        if frame != previous:
            self._apply(frame, previous)
        if notice:
            self.notify(notice.title, notice.text)

    @property
    def shown(self) -> Frame | None:
        return self._shown

    def activate(self, item: Item) -> None:
        """A menu click: the backend's UI thread calls this; errors are logged, never raised."""
        try:
            invoke(item, self.actions)
        except Exception:  # a failing action must not take down the tray's main loop
            _LOG.exception("tray action %s(%r) failed", item.action, item.arg)

    def notify(self, title: str, text: str) -> None:
        """A desktop notification for something the user must act on; always logged."""
        _LOG.warning("%s: %s", title, text)
        notify_send(title, text)


def notify_send(title: str, text: str) -> bool:
    """Fire ``notify-send`` without waiting (it blocks when no notification daemon runs)."""
    exe = shutil.which("notify-send") if sys.platform.startswith("linux") else None
    if not exe:
        return False
    try:
        subprocess.Popen([exe, "--app-name=Sisyphus", "--urgency=critical", title, text],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        _LOG.warning("notify-send failed (%s); the message is in the log only", exc)
        return False
    return True
