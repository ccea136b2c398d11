"""Hotkey chords: parsing and a pure press/release state machine (no pynput, no display).

A chord is written as keys joined by ``+``, with or without pynput's angle brackets:
``"<ctrl>+<alt>+space"``, ``"<f9>"``, ``"ctrl+shift+a"``. Keys are named like pynput's
``Key`` members (``ctrl``, ``alt``, ``shift``, ``cmd``, ``f1``..``f24``, ``space``,
``page_up``, ...) or are a single character. Common aliases (control, super, win, escape,
return, pgup, ...) are accepted.

:class:`ChordState` is fed physical key-down/up names (``ctrl_l``, ``ctrl_r``, ``a``...) and
reports the chord's press and release edges. It ignores auto-repeat (repeated downs of a held
key), handles modifiers released in any order, and counts left and right variants separately
so releasing one Ctrl while the other is held does not end the chord.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

MODIFIERS = frozenset({"ctrl", "alt", "alt_gr", "shift", "cmd"})
NAMED_KEYS = frozenset(
    {"backspace", "caps_lock", "delete", "down", "end", "enter", "esc", "home", "insert", "left",
     "menu", "num_lock", "page_down", "page_up", "pause", "print_screen", "right", "scroll_lock",
     "space", "tab", "up", "media_play_pause", "media_volume_mute", "media_volume_down",
     "media_volume_up", "media_previous", "media_next"} | {f"f{i}" for i in range(1, 25)})
ALIASES = {
    "control": "ctrl", "ctl": "ctrl", "option": "alt", "opt": "alt", "altgr": "alt_gr",
    "super": "cmd", "win": "cmd", "windows": "cmd", "meta": "cmd", "command": "cmd", "logo": "cmd",
    "escape": "esc", "return": "enter", "del": "delete", "ins": "insert", "pgup": "page_up",
    "pgdn": "page_down", "pageup": "page_up", "pagedown": "page_down", "prtsc": "print_screen",
    "printscreen": "print_screen", "spacebar": "space", "capslock": "caps_lock", "bksp": "backspace",
}
# physical variants reported by backends -> the name used in chords
_SIDES = {f"{m}_{s}": m for m in ("ctrl", "alt", "shift", "cmd") for s in ("l", "r")}


class ChordError(ValueError):
    """A hotkey chord that cannot be parsed; the message names the bad part."""


@dataclass(frozen=True)
class Chord:
    """A validated chord: the modifiers plus the other keys (usually exactly one)."""

    keys: frozenset[str]

    @property
    def modifiers(self) -> frozenset[str]:
        return self.keys & MODIFIERS

    def __str__(self) -> str:
        order = sorted(self.keys, key=lambda k: (k not in MODIFIERS, k))
        return "+".join(f"<{k}>" if len(k) > 1 else k for k in order)


def valid_names() -> str:
    """Human-readable list of the accepted key names (for error messages and docs)."""
    fkeys = "f1..f24"
    named = sorted(k for k in NAMED_KEYS if not (k[0] == "f" and k[1:].isdigit()))
    return f"modifiers {', '.join(sorted(MODIFIERS))}; keys {fkeys}, {', '.join(named)}; or one character"


def key_name(token: str) -> str:
    """Canonical chord name of one key token, or :class:`ChordError`."""
    raw = token.strip()
    if len(raw) == 1 and not raw.isspace():
        return raw.lower()
    name = raw.strip("<>").strip().lower().replace("-", "_").replace(" ", "_")
    name = ALIASES.get(name, _SIDES.get(name, name))
    if name in MODIFIERS or name in NAMED_KEYS or len(name) == 1:
        return name
    raise ChordError(f"unknown key {token.strip()!r}. Valid names: {valid_names()}")


def parse_chord(text: str) -> Chord:
    """Parse ``"<ctrl>+<alt>+space"`` style text; errors name the bad part."""
    if not text or not text.strip():
        raise ChordError("the hotkey is empty: write a chord such as '<ctrl>+<alt>+space' or '<f9>'")
    tokens = _split(text)
    keys: list[str] = []
    for token in tokens:
        if not token.strip():
            raise ChordError(f"hotkey {text!r} has an empty part: join keys with single '+', "
                             "e.g. '<ctrl>+<alt>+space' (write the plus key as 'plus')")
        name = key_name(token)
        if name in keys:
            raise ChordError(f"hotkey {text!r} names {name!r} twice")
        keys.append(name)
    chord = Chord(frozenset(keys))
    if len(chord.keys - MODIFIERS) > 1:
        raise ChordError(f"hotkey {text!r} has more than one non-modifier key "
                         f"({', '.join(sorted(chord.keys - MODIFIERS))}): use modifiers plus one key")
    return chord


def _split(text: str) -> list[str]:
    parts = text.split("+")
    return ["+" if p.strip().lower() == "plus" else p for p in parts]


def physical_to_chord_name(name: str) -> str:
    """``ctrl_l`` -> ``ctrl``; other names unchanged (already lower-case)."""
    return _SIDES.get(name, name)


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
