"""Global hotkey through pynput (X11 via XRecord, Windows hooks, macOS event taps).

pynput is imported only in :meth:`PynputHotkey._start`: on Linux its import connects to
the X server and raises without a display, which must not break importing the daemon.
The listener thread only names the key and hands it to the loop with
``call_soon_threadsafe``; the chord state machine runs on the loop.
"""
from __future__ import annotations

import asyncio
import enum
import logging
from typing import Any

from daemon.platform.hotkey.base import HotkeyBackend, HotkeyUnavailable

_LOG = logging.getLogger(__name__)


def key_to_name(key: Any) -> str | None:
    """A pynput ``Key``/``KeyCode`` as a physical chord name (``ctrl_l``, ``space``, ``a``)."""
    if key is None:
        return None
    if isinstance(key, enum.Enum):  # pynput.keyboard.Key member
        return key.name
    char = getattr(key, "char", None)
    if char:
        if len(char) == 1 and ord(char) < 32:  # Windows reports ctrl+a as '\x01'
            char = chr(ord(char) + 96)
        return char.lower()
    vk = getattr(key, "vk", None)
    return f"vk{vk}" if vk is not None else None


def import_pynput_keyboard() -> Any:
    """Import ``pynput.keyboard`` or explain why it cannot work here."""
    try:
        from pynput import keyboard
    except ImportError as exc:  # pynput reports a missing X connection as ImportError
        raise HotkeyUnavailable(
            f"the pynput hotkey backend cannot start ({exc}). Without an X11 display (e.g. on "
            "Wayland) bind 'sisyphus ptt toggle' (or 'sisyphus ptt press' / 'sisyphus ptt "
            "release') to a shortcut in the desktop's keyboard settings instead") from exc
    return keyboard


def _flush_xrecord(listener: Any) -> None:
    """Make pynput's X11 listener thread end now instead of at the next key event.

    ``Listener.stop()`` sends ``RecordDisableContext`` on the recording (data) connection,
    which is blocked inside ``RecordEnableContext``, so the request only leaves when the next
    event arrives. The XRecord spec wants it on a control connection: send it again on
    pynput's other connection and flush. This reaches into private attributes on purpose;
    other platforms lack them and skip this.
    """
    control, context = getattr(listener, "_display_stop", None), getattr(listener, "_context", None)
    if control is None or context is None:
        return
    try:
        control.record_disable_context(context)
        control.flush()
    except Exception as exc:  # the connection may already be closed: the thread is ending
        _LOG.debug("disabling the XRecord context: %s", exc)


class PynputHotkey(HotkeyBackend):
    NAME = "pynput"
    HAS_RELEASE = True
    GLOBAL = True

    def __init__(self, chord: Any) -> None:
        super().__init__(chord)
        self._listener: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _start(self) -> None:
        keyboard = import_pynput_keyboard()
        self._loop = asyncio.get_running_loop()
        listener = keyboard.Listener(on_press=self._thread_down, on_release=self._thread_up)
        listener.daemon = True
        listener.start()
        await asyncio.to_thread(listener.wait)  # until the XRecord context is live
        self._listener = listener
        _LOG.info("hotkey %s listening (pynput)", self.chord)

    async def _stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
            _flush_xrecord(listener)
            await asyncio.to_thread(listener.join, 2.0)
            if listener.is_alive():
                _LOG.warning("hotkey listener thread did not stop within 2 s; leaving it (daemon thread)")

    # listener thread: name the key, hand it over, nothing else
    def _thread_down(self, key: Any) -> None:
        self._hand_over(self._key_down, key)

    def _thread_up(self, key: Any) -> None:
        self._hand_over(self._key_up, key)

    def _hand_over(self, handler: Any, key: Any) -> None:
        name = key_to_name(key)
        loop = self._loop
        if name is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(handler, name)
