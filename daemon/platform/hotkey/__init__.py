"""Global hotkey backends behind one factory.

``create_hotkey("auto", chord)`` picks pynput where it can see the keyboard (X11, Windows,
macOS) and otherwise falls back to the programmatic dummy with a log line telling the user to
bind ``sisyphus ptt ...`` in the desktop's shortcut settings. ``SISYPHUS_HOTKEY_BACKEND`` in
the environment overrides the choice (like pystray's/pynput's own backend variables).
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Mapping

from daemon.config.chord import Chord, ChordError, parse_chord
from daemon.platform.hotkey.base import HotkeyBackend, HotkeyUnavailable
from daemon.platform.hotkey.chord import ChordState, Edge
from daemon.platform.hotkey.dummy import DummyHotkey

__all__ = ["Chord", "ChordError", "ChordState", "DummyHotkey", "Edge", "HotkeyBackend",
           "HotkeyUnavailable", "SHORTCUT_HINT", "create_hotkey", "parse_chord", "why_no_pynput"]
_LOG = logging.getLogger(__name__)
BACKENDS = ("auto", "pynput", "dummy")
SHORTCUT_HINT = ("bind 'sisyphus ptt toggle' (or 'sisyphus ptt press' on key down and "
                 "'sisyphus ptt release' on key up) in the desktop's keyboard shortcut settings")


def create_hotkey(backend: str, chord: str | Chord, env: Mapping[str, str] | None = None,
                  platform: str = sys.platform) -> HotkeyBackend:
    """The hotkey backend for ``backend`` ("auto", "pynput" or "dummy") listening for ``chord``."""
    env = os.environ if env is None else env
    parsed = chord if isinstance(chord, Chord) else parse_chord(chord)
    backend = env.get("SISYPHUS_HOTKEY_BACKEND", backend).strip().lower()
    if backend not in BACKENDS:
        raise ValueError(f"unknown hotkey backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if backend == "dummy":
        return DummyHotkey(parsed)
    reason = why_no_pynput(env, platform)
    if reason and backend == "pynput":
        raise HotkeyUnavailable(f"the pynput hotkey backend cannot work here: {reason}; "
                                f"use hotkey backend 'auto' or 'dummy' and {SHORTCUT_HINT}")
    if reason:
        _LOG.warning("no global hotkey: %s. To talk, %s.", reason, SHORTCUT_HINT)
        return DummyHotkey(parsed)
    if platform.startswith("linux") and env.get("WAYLAND_DISPLAY"):
        _LOG.warning("Wayland session: the hotkey is only seen while an X11 (XWayland) window "
                     "has focus. For a hotkey that always works, %s.", SHORTCUT_HINT)
    from daemon.platform.hotkey.pynput_backend import PynputHotkey

    return PynputHotkey(parsed)


def why_no_pynput(env: Mapping[str, str], platform: str) -> str | None:
    """Why pynput cannot hear the keyboard here, decided without importing it."""
    if not platform.startswith("linux") or env.get("DISPLAY"):
        return None
    if env.get("WAYLAND_DISPLAY"):
        return "this is a Wayland session without XWayland (no DISPLAY), and pynput only speaks X11"
    return "there is no display (DISPLAY is not set)"
