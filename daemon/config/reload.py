"""Notice edits of the settings file ("Edit settings…") and hand them to LiveSettings.reload."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable


class ConfigWatcher:
    def __init__(self, path: Path, on_change: Callable[[], None], interval_s: float = 1.0) -> None:
        self.path = path
        self.on_change = on_change
        self.interval_s = interval_s
        self._stamp = self._read_stamp(path)

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
            stamp = self._read_stamp(self.path)
            if stamp != self._stamp:
                self._stamp = stamp
                self.on_change()
