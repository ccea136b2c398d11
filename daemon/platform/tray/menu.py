"""The tray menu as plain data: built from voices, devices and settings; no toolkit.

Each item names an action (``TrayAction``, a command of daemon/commands/table.py) and its argument, so a
backend only renders the tree and calls ``invoke``; the same tree drives the dummy backend in tests.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping, Protocol, Sequence, assert_never

from daemon.audio.devices import SYSTEM_DEFAULT, SYSTEM_DEFAULT_LABEL

HOTKEY_MODES = (("ptt", "Push to talk"), ("toggle", "Toggle"))


# What a menu item can ask for: these commands of daemon/commands/table.py (their ``method``; mypy checks
# them against the table's ``CommandMethod`` where the composition root hands them on, daemon/app/tray.py).
TrayAction = Literal["set_voice", "remove_voice", "record_voice", "set_input_device", "set_output_device",
                     "set_hotkey_mode", "new_conversation", "set_autostart", "edit_settings", "open_log",
                     "restart_engines", "quit"]


class Actions(Protocol):
    """What the menu asks for: one method per ``TrayAction``. Called on the tray (UI) thread: the
    composition root's object only hands the work to the core loop and returns at once (results
    are ignored, hence ``object``)."""

    def set_voice(self, name: str) -> object: ...
    def remove_voice(self, name: str) -> object: ...
    def record_voice(self) -> object: ...
    def set_input_device(self, name: str) -> object: ...
    def set_output_device(self, name: str) -> object: ...
    def set_hotkey_mode(self, mode: str) -> object: ...
    def new_conversation(self) -> object: ...
    def set_autostart(self, enabled: bool) -> object: ...
    def edit_settings(self) -> object: ...
    def open_log(self) -> object: ...
    def restart_engines(self) -> object: ...
    def quit(self) -> object: ...


class Kind(str, enum.Enum):
    NORMAL = "normal"
    RADIO = "radio"
    CHECK = "check"
    SUBMENU = "submenu"
    SEPARATOR = "separator"
    LABEL = "label"  # disabled text (status, failure)


@dataclass(frozen=True)
class Item:
    text: str = ""
    action: TrayAction | None = None  # None for labels, separators, submenus
    arg: Any = None  # passed to the action when not None
    kind: Kind = Kind.NORMAL
    checked: bool = False
    children: tuple[Item, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.kind is not Kind.LABEL and (self.kind is not Kind.SUBMENU or bool(self.children))


SEPARATOR = Item(kind=Kind.SEPARATOR)


@dataclass(frozen=True)
class Voice:
    name: str
    description: str = ""
    cloned: bool = False


@dataclass(frozen=True)
class MenuSettings:
    """The current values the menu marks as checked."""

    voice: str = ""
    input_device: str = SYSTEM_DEFAULT
    output_device: str = SYSTEM_DEFAULT
    hotkey_mode: str = "ptt"
    hotkey_chord: str = ""
    autostart: bool = False

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> MenuSettings:
        """From "section.key" values (TrayView.settings); missing keys keep the defaults."""
        keys = {"tts.voice": "voice", "audio.input_device": "input_device",
                "audio.output_device": "output_device", "hotkey.mode": "hotkey_mode",
                "hotkey.chord": "hotkey_chord", "daemon.autostart": "autostart"}
        return cls(**{field: values[key] for key, field in keys.items() if key in values})


def voice_entries(voices: Iterable[Any]) -> tuple[Voice, ...]:
    """Accept (name, description, cloned) tuples, objects with those attributes, or names."""
    out = []
    for v in voices:
        if isinstance(v, str):
            out.append(Voice(v))
        elif isinstance(v, (tuple, list)):
            out.append(Voice(str(v[0]), str(v[1]) if len(v) > 1 else "", bool(v[2]) if len(v) > 2 else False))
        else:
            out.append(Voice(v.name, getattr(v, "description", ""), bool(getattr(v, "cloned", False))))
    return tuple(out)


def build_menu(voices: Iterable[Any], inputs: Sequence[str], outputs: Sequence[str],
               current: MenuSettings, status: Sequence[str] = ()) -> tuple[Item, ...]:
    """The whole menu; ``status`` lines (state, failure and what to do) come first, disabled."""
    entries = voice_entries(voices)
    head = tuple(Item(line, kind=Kind.LABEL) for line in status)
    return head + ((SEPARATOR,) if head else ()) + (
        Item("Voice", kind=Kind.SUBMENU, children=_voice_items(entries, current.voice)),
        Item("Input device", kind=Kind.SUBMENU,
             children=_device_items(inputs, current.input_device, "set_input_device")),
        Item("Output device", kind=Kind.SUBMENU,
             children=_device_items(outputs, current.output_device, "set_output_device")),
        Item("Hotkey", kind=Kind.SUBMENU, children=_hotkey_items(current)),
        SEPARATOR,
        Item("New conversation", "new_conversation"),
        Item("Start at login", "set_autostart", not current.autostart, Kind.CHECK, current.autostart),
        Item("Edit settings…", "edit_settings"),
        Item("Open log", "open_log"),
        Item("Restart engines", "restart_engines"),
        SEPARATOR,
        Item("Quit", "quit"),
    )


def _voice_items(voices: tuple[Voice, ...], current: str) -> tuple[Item, ...]:
    radios = tuple(Item(_voice_label(v), "set_voice", v.name, Kind.RADIO, v.name == current) for v in voices)
    cloned = tuple(Item(v.name, "remove_voice", v.name) for v in voices if v.cloned)
    if not radios:
        radios = (Item("No voices yet (the speech engine is loading)", kind=Kind.LABEL),)
    return radios + (SEPARATOR, Item("Record a new voice…", "record_voice"),
                     Item("Remove voice", kind=Kind.SUBMENU, children=cloned))


def _voice_label(voice: Voice) -> str:
    label = f"{voice.name} — {voice.description}" if voice.description else voice.name
    return label + (" (cloned)" if voice.cloned else "")


def _device_items(names: Sequence[str], current: str,
                  action: Literal["set_input_device", "set_output_device"]) -> tuple[Item, ...]:
    default = Item(SYSTEM_DEFAULT_LABEL, action, SYSTEM_DEFAULT, Kind.RADIO, current == SYSTEM_DEFAULT)
    items = [Item(n, action, n, Kind.RADIO, n == current) for n in names if n != SYSTEM_DEFAULT]
    if current != SYSTEM_DEFAULT and current not in names:  # chosen device unplugged: say so
        items.append(Item(f"{current} (not connected)", action, current, Kind.RADIO, True))
    return (default, SEPARATOR, *items) if items else (default,)


def _hotkey_items(current: MenuSettings) -> tuple[Item, ...]:
    chord = f" ({current.hotkey_chord})" if current.hotkey_chord else ""
    return tuple(Item(label + chord, "set_hotkey_mode", mode, Kind.RADIO, mode == current.hotkey_mode)
                 for mode, label in HOTKEY_MODES)


def invoke(item: Item, actions: Actions) -> None:
    """Call the action ``item`` names with its argument; labels, separators and submenus do nothing."""
    action, arg = item.action, item.arg
    if action is None:
        return
    if action == "set_voice":
        actions.set_voice(arg)
    elif action == "remove_voice":
        actions.remove_voice(arg)
    elif action == "record_voice":
        actions.record_voice()
    elif action == "set_input_device":
        actions.set_input_device(arg)
    elif action == "set_output_device":
        actions.set_output_device(arg)
    elif action == "set_hotkey_mode":
        actions.set_hotkey_mode(arg)
    elif action == "new_conversation":
        actions.new_conversation()
    elif action == "set_autostart":
        actions.set_autostart(arg)
    elif action == "edit_settings":
        actions.edit_settings()
    elif action == "open_log":
        actions.open_log()
    elif action == "restart_engines":
        actions.restart_engines()
    elif action == "quit":
        actions.quit()
    else:  # mypy: every TrayAction has its branch
        assert_never(action)


def find(items: Sequence[Item], *path: str) -> Item:
    """The item reached by following texts (prefix match), e.g. find(m, "Voice", "Ryan")."""
    for text in path[:-1]:
        items = _match(items, text).children
    return _match(items, path[-1])


def _match(items: Sequence[Item], text: str) -> Item:
    for item in items:
        if item.kind is not Kind.SEPARATOR and item.text.startswith(text):
            return item
    raise KeyError(f"no menu item starting with {text!r} among {[i.text for i in items if i.text]}")
