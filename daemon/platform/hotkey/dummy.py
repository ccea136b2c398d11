"""A hotkey backend with no keyboard: triggered programmatically.

Used for ``--headless``, for Wayland sessions where pynput sees nothing, and in tests. The
control socket's ``sisyphus ptt press|release`` lands here through :meth:`press`/:meth:`release`.
"""
from __future__ import annotations

from daemon.platform.hotkey.base import HotkeyBackend


class DummyHotkey(HotkeyBackend):
    NAME = "dummy"
    HAS_RELEASE = True  # press()/release() can be called separately
    GLOBAL = False  # hears no keyboard at all

    async def _start(self) -> None:
        pass

    async def _stop(self) -> None:
        pass

    def press(self) -> None:
        """Act as if the whole chord went down (idempotent while held)."""
        for key in sorted(self.chord.keys):
            self._key_down(key)

    def release(self) -> None:
        """Act as if the chord's keys were let go."""
        for key in sorted(self.chord.keys):
            self._key_up(key)
