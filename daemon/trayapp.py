"""The tray on the main thread, bound to the core loop (pystray needs the main thread on macOS).

Menu clicks arrive on the tray's UI thread and are handed to the core loop with
``call_soon_threadsafe``; bus events reach the tray through TrayPresenter, whose
backend forwards frames to its UI thread. The tray stops when the core does.
"""
from __future__ import annotations

import logging
import signal
import threading
from typing import Literal

from .actions import loop_call

_LOG = logging.getLogger(__name__)


class TrayActions:
    """The tray's Actions protocol: every call runs on the core loop (see daemon.actions)."""

    def __init__(self, app) -> None:
        self.app = app

    def _core(self, name: str, *args) -> None:
        if self.app.loop is None or getattr(self.app, "actions", None) is None:
            _LOG.warning("tray action %s before the daemon was ready; ignored", name)
            return
        loop_call(self.app.loop, getattr(self.app.actions, name), *args)

    def set_voice(self, name: str) -> None: self._core("set_voice", name)
    def set_input_device(self, name: str) -> None: self._core("set_device", "input", name)
    def set_output_device(self, name: str) -> None: self._core("set_device", "output", name)
    def set_hotkey_mode(self, mode: str) -> None: self._core("set_hotkey_mode", mode)
    def new_conversation(self) -> None: self._core("new_conversation")
    def set_autostart(self, enabled: bool) -> None: self._core("set_autostart", enabled)
    def edit_settings(self) -> None: self._core("edit_settings")
    def open_log(self) -> None: self._core("open_log")
    def restart_engines(self) -> None: self._core("restart_engines")
    def record_voice(self) -> None: self._core("record_voice")
    def remove_voice(self, name: str) -> None: self._core("remove_voice", name)
    def quit(self) -> None: self._core("quit")


def device_lists() -> tuple[list[str], list[str]]:
    try:
        from .audio.devices import device_names

        def named(kind: Literal["input", "output"]) -> list[str]:  # "System default" has its own menu entry
            return [n for n in device_names(kind) if n not in ("System default", "default")]

        return named("input"), named("output")
    except Exception as exc:  # no PortAudio: the menus offer only "System default"
        _LOG.warning("audio devices unavailable for the menu: %s", exc)
        return [], []


def run(app, core: threading.Thread) -> None:
    from .platform.tray import TrayPresenter, create_tray

    backend = create_tray(TrayActions(app), app.settings.tray.backend)
    inputs, outputs = device_lists()
    presenter = TrayPresenter(backend, theme_setting=app.settings.tray.theme, inputs=inputs, outputs=outputs)
    app.bus.subscribe(presenter.on_event)
    app.tray = backend

    def stop_with_core() -> None:
        core.join()
        backend.stop()

    threading.Thread(target=stop_with_core, name="tray-stopper", daemon=True).start()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: app.request_quit())

    def ready() -> None:
        if getattr(app, "actions", None) is not None and app.loop is not None:
            app.loop.call_soon_threadsafe(app.actions.publish_settings)

    backend.run(ready)
