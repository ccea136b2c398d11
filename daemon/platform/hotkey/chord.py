"""The hotkey's chord as a pure press/release state machine (no pynput, no display).

:class:`ChordState` is fed physical key-down/up names (``ctrl_l``, ``ctrl_r``, ``a``...) and
reports the chord's press and release edges. It ignores auto-repeat (repeated downs of a held
key), handles modifiers released in any order, and counts left and right variants separately
so releasing one Ctrl while the other is held does not end the chord. The chord's grammar
(parsing the setting) is ``daemon.config.chord``.
"""
from __future__ import annotations

import enum

from daemon.config.chord import MODIFIERS, Chord, physical_to_chord_name


class Edge(enum.Enum):
    PRESS = "press"
    RELEASE = "release"


class ChordState:
    """Feed key downs/ups (physical names); get the chord's press/release edges.

    Press fires on the key-down that completes the chord while exactly the chord's modifiers
    are held (so ``ctrl+shift+space`` does not fire a ``ctrl+space`` chord). Release fires on
    the first key-up of any chord key. Not thread-safe: feed it from one thread (the loop).
    """

    def __init__(self, chord: Chord) -> None:
        self.chord = chord
        self._held: set[str] = set()  # physical names
        self.active = False

    def _held_names(self) -> set[str]:
        return {physical_to_chord_name(k) for k in self._held}

    def down(self, key: str) -> Edge | None:
        if key in self._held:
            return None  # auto-repeat
        self._held.add(key)
        held = self._held_names()
        if not self.active and self.chord.keys <= held and held & MODIFIERS == self.chord.modifiers:
            self.active = True
            return Edge.PRESS
        return None

    def up(self, key: str) -> Edge | None:
        self._held.discard(key)
        if self.active and physical_to_chord_name(key) in self.chord.keys \
                and physical_to_chord_name(key) not in self._held_names():
            self.active = False
            return Edge.RELEASE
        return None

    def reset(self) -> Edge | None:
        """Forget held keys (e.g. after the listener restarts); releases an active chord."""
        self._held.clear()
        if self.active:
            self.active = False
            return Edge.RELEASE
        return None
