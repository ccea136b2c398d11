"""The running settings: the file they came from, the values in use, and the one way to change them.

Menu choices and the control socket change single keys through ``set``: the file is
edited in place (comments and other keys kept) and replaced atomically, then the new
value is published as SettingsChanged. ``reload`` re-reads an edited file; a bad file is
reported and the running values stay.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from daemon.audio.devices import SYSTEM_DEFAULT, is_default
from daemon.events import ErrorEvent, EventBus, SettingsChanged

from . import store
from .schema import TRAY_SETTINGS, Settings

_LOG = logging.getLogger(__name__)


class LiveSettings:
    def __init__(self, path: Path, settings: Settings, bus: EventBus) -> None:
        self.path = path
        self.current = settings
        self.bus = bus

    def set(self, section: str, key: str, value: Any) -> bool:
        """Write one key to the file and use it; False (and an error event) when that failed."""
        try:
            written = store.write_settings(self.path, {section: {key: value}}, template=store.default_text())
        except (store.ConfigError, OSError) as exc:
            self.bus.publish(ErrorEvent("config_write", f"could not save [{section}] {key}: {exc}"))
            return False
        self.current = store.apply_env(written, store.read_table(self.path), os.environ)
        self.bus.publish(SettingsChanged(section, key, shown(section, key, value)))
        return True

    def publish(self) -> None:
        """What the tray menu shows as checked (the schema's ``tray`` settings): at start and on reload."""
        for section, key in TRAY_SETTINGS:
            value = getattr(getattr(self.current, section), key)
            self.bus.publish(SettingsChanged(section, key, shown(section, key, value)))

    def reload(self) -> tuple[Settings, Settings] | None:
        """Re-read the file after an outside edit: (old, new) when it changed, else None (a bad file
        is reported and the running values stay)."""
        try:
            settings = store.load(self.path)
        except store.ConfigError as exc:
            _LOG.error("settings not reloaded: %s", exc)
            self.bus.publish(ErrorEvent("config_invalid", f"{exc}; the previous settings stay in use"))
            return None
        if settings == self.current:
            return None
        _LOG.info("settings reloaded from %s", self.path)
        old, self.current = self.current, settings
        return old, settings


def shown(section: str, key: str, value: Any) -> Any:
    """The value as the menu names it (every spelling of the system default maps to the sentinel)."""
    if section == "audio" and is_default(value):
        return SYSTEM_DEFAULT
    return value
