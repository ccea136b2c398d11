"""Reload the settings file when it changes ("Edit settings…"), keeping the running config on errors."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from . import config
from .events import ErrorEvent

_LOG = logging.getLogger(__name__)


class ConfigWatcher:
    def __init__(self, app, interval_s: float = 1.0) -> None:
        self.app = app
        self.interval_s = interval_s
        self._stamp = self._read_stamp(app.config_path)

    @staticmethod
    def _read_stamp(path: Path) -> tuple | None:
        try:
            st = path.stat()
            return (st.st_mtime_ns, st.st_size)
        except OSError:
            return None

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            stamp = self._read_stamp(self.app.config_path)
            if stamp != self._stamp:
                self._stamp = stamp
                self.reload()

    def reload(self) -> None:
        try:
            settings = config.load(self.app.config_path)
        except config.ConfigError as exc:
            _LOG.error("settings not reloaded: %s", exc)
            self.app.bus.publish(ErrorEvent("config_invalid", f"{exc}; the previous settings stay in use"))
            return
        if settings == self.app.settings:
            return
        _LOG.info("settings reloaded from %s", self.app.config_path)
        self.app.apply_settings(settings)
