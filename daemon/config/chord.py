"""The ``[hotkey] chord`` setting's grammar: key names, aliases, and parsing into a :class:`Chord`.

It lives with the settings (which validate the chord when the file is read); the hotkey's
press/release state machine (``daemon.platform.hotkey.chord``) builds on it.

A chord is written as keys joined by ``+``, with or without pynput's angle brackets:
``"<ctrl>+<alt>+space"``, ``"<f9>"``, ``"ctrl+shift+a"``. Keys are named like pynput's
``Key`` members (``ctrl``, ``alt``, ``shift``, ``cmd``, ``f1``..``f24``, ``space``,
``page_up``, ...) or are a single character. Common aliases (control, super, win, escape,
return, pgup, ...) are accepted.

Backends report physical names (``ctrl_l``, ``ctrl_r``, ``a``...): :func:`physical_to_chord_name`
maps them to the names chords use.
"""
from __future__ import annotations

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
