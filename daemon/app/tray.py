"""The tray on the main thread, bound to the core loop (pystray needs the main thread on macOS).

Menu items name commands of the command table (daemon/commands/table.py); a click
arrives on the tray's UI thread and is handed to the core loop. Bus events reach the
tray through TrayPresenter, whose backend forwards frames to its UI thread. The tray
stops when the core does.
"""
from __future__ import annotations

import logging
import signal
import threading
from typing import Callable, Literal, cast

from daemon.commands.table import BY_METHOD
from daemon.config.schema import TraySettings
from daemon.events import EventBus

_LOG = logging.getLogger(__name__)


class TrayActions:
    """What the menu can ask for: every command of the table, run on the core loop by ``call``."""

    def __init__(self, call: Callable[..., None]) -> None:
        self._call = call

    def __getattr__(self, method: str) -> Callable[..., None]:
        if method not in BY_METHOD:
            raise AttributeError(f"{method!r} is not a command (daemon/commands/table.py)")
        return lambda *args: self._call(method, *args)


def device_lists() -> tuple[list[str], list[str]]:
    try:
        from daemon.audio.devices import device_names, is_default

        def named(kind: Literal["input", "output"]) -> list[str]:  # the system default has its own menu entry
            return [n for n in device_names(kind) if not is_default(n)]

        return named("input"), named("output")
    except Exception as exc:  # no PortAudio: the menus offer only "System default"
        _LOG.warning("audio devices unavailable for the menu: %s", exc)
        return [], []


def run_tray(settings: TraySettings, bus: EventBus, call: Callable[..., None], request_quit: Callable[[], None],
             core: threading.Thread) -> None:
    """Show the tray on this (main) thread until the core ends; ``core``, not started yet, is started here."""
    from daemon.platform.tray import BackendName, TrayPresenter, create_tray

    backend = create_tray(TrayActions(call), cast(BackendName, settings.backend))  # a choice checked at load
    presenter = TrayPresenter(backend, theme_setting=settings.theme)
    # Subscribed before the core starts, so the tray sees every event the core publishes, the settings
    # and voices it publishes as it comes up included (asking for them from the tray raced the core).
    bus.subscribe(presenter.on_event)
    core.start()
    presenter.set_devices(*device_lists())

    def stop_with_core() -> None:
        core.join()
        backend.stop()

    threading.Thread(target=stop_with_core, name="tray-stopper", daemon=True).start()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: request_quit())
    backend.run()
