"""The tray on the main thread, bound to the core loop (pystray needs the main thread on macOS).

Menu items name commands of the command table (daemon/commands/table.py); a click
arrives on the tray's UI thread and TrayActions hands it to the core loop (mypy checks each
menu action against the table and the Commands handlers). Bus events reach the
tray through TrayPresenter, whose backend forwards frames to its UI thread. The tray
stops when the core does.
"""
from __future__ import annotations

import logging
import signal
import threading
from typing import TYPE_CHECKING, Callable, Literal, Protocol, cast

from daemon.commands.table import CommandMethod
from daemon.config.schema import TraySettings
from daemon.events import EventBus
from daemon.platform.tray.menu import Actions, TrayAction

if TYPE_CHECKING:
    from daemon.commands.actions import Commands

_LOG = logging.getLogger(__name__)


class CoreCall(Protocol):
    """Runs a command's method on the core loop, from any thread (Daemon.call)."""

    def __call__(self, method: CommandMethod, /, *args: object) -> None: ...


class TrayActions:
    """What the menu can ask for (the tray's ``Actions``): each click runs its command on the core loop."""

    def __init__(self, call: CoreCall) -> None:
        self._call = call

    def _send(self, action: TrayAction, *args: object) -> None:
        self._call(action, *args)  # mypy: every TrayAction is a method of the command table

    def set_voice(self, name: str) -> None:
        self._send("set_voice", name)

    def remove_voice(self, name: str) -> None:
        self._send("remove_voice", name)

    def record_voice(self) -> None:
        self._send("record_voice")

    def set_input_device(self, name: str) -> None:
        self._send("set_input_device", name)

    def set_output_device(self, name: str) -> None:
        self._send("set_output_device", name)

    def set_hotkey_mode(self, mode: str) -> None:
        self._send("set_hotkey_mode", mode)

    def new_conversation(self) -> None:
        self._send("new_conversation")

    def set_autostart(self, enabled: bool) -> None:
        self._send("set_autostart", enabled)

    def edit_settings(self) -> None:
        self._send("edit_settings")

    def open_log(self) -> None:
        self._send("open_log")

    def restart_engines(self) -> None:
        self._send("restart_engines")

    def quit(self) -> None:
        self._send("quit")


if TYPE_CHECKING:
    def _handlers_take_what_the_menu_sends(commands: Commands) -> Actions:
        return commands  # mypy: Commands has a method for every TrayAction, with the arguments the menu sends


def device_lists() -> tuple[list[str], list[str]]:
    try:
        from daemon.audio.devices import device_names, is_default

        def named(kind: Literal["input", "output"]) -> list[str]:  # the system default has its own menu entry
            return [n for n in device_names(kind) if not is_default(n)]

        return named("input"), named("output")
    except Exception as exc:  # no PortAudio: the menus offer only "System default"
        _LOG.warning("audio devices unavailable for the menu: %s", exc)
        return [], []


def run_tray(settings: TraySettings, bus: EventBus, call: CoreCall, request_quit: Callable[[], None],
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
