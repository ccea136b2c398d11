"""The menu model: what it lists, what is checked, and which action each item calls."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.support.recorder import Recorder

from daemon.platform.tray.menu import (
    SYSTEM_DEFAULT, Item, Kind, MenuSettings, build_menu, find, invoke, voice_entries,
)

VOICES = [("Ryan", "English male", False), ("Vivian", "Chinese female", False), ("Grandpa", "recorded", True)]
CURRENT = MenuSettings(voice="Vivian", input_device="USB Mic", output_device=SYSTEM_DEFAULT,
                       hotkey_mode="toggle", hotkey_chord="<ctrl>+<alt>+space", autostart=True)



@pytest.fixture
def menu() -> tuple[Item, ...]:
    return build_menu(VOICES, ["USB Mic", "Webcam"], ["Speakers"], CURRENT, status=["Sisyphus: Idle"])


def texts(items: tuple[Item, ...]) -> list[str]:
    return [i.text for i in items if i.kind is not Kind.SEPARATOR]


def test_top_level_order(menu: tuple[Item, ...]) -> None:
    assert texts(menu) == ["Sisyphus: Idle", "Voice", "Input device", "Output device", "Hotkey",
                           "New conversation", "Start at login", "Edit settings…", "Open log",
                           "Restart engines", "Quit"]
    assert not menu[0].enabled and menu[-1].action == "quit"


def test_voice_radio_list_with_record_and_remove(menu: tuple[Item, ...]) -> None:
    voice = find(menu, "Voice").children
    radios = [i for i in voice if i.kind is Kind.RADIO]
    assert [r.arg for r in radios] == ["Ryan", "Vivian", "Grandpa"]
    assert [r.checked for r in radios] == [False, True, False]
    assert radios[0].text == "Ryan — English male" and radios[2].text.endswith("(cloned)")
    assert find(voice, "Record a new voice…").action == "record_voice"
    remove = find(voice, "Remove voice")
    assert [(i.text, i.action, i.arg) for i in remove.children] == [("Grandpa", "remove_voice", "Grandpa")]


def test_remove_submenu_is_disabled_without_cloned_voices() -> None:
    menu = build_menu(VOICES[:2], [], [], MenuSettings())
    assert not find(menu, "Voice", "Remove voice").enabled


def test_no_voices_yet_says_why() -> None:
    voice = find(build_menu([], [], [], MenuSettings()), "Voice").children
    assert voice[0].kind is Kind.LABEL and "loading" in voice[0].text


def test_device_lists_have_system_default(menu: tuple[Item, ...]) -> None:
    inputs = find(menu, "Input device").children
    assert [(i.text, i.arg, i.checked) for i in inputs if i.kind is Kind.RADIO] == [
        ("System default", SYSTEM_DEFAULT, False), ("USB Mic", "USB Mic", True), ("Webcam", "Webcam", False)]
    outputs = find(menu, "Output device").children
    assert find(outputs, "System default").checked and find(outputs, "Speakers").action == "set_output_device"


def test_unplugged_chosen_device_stays_visible_and_checked() -> None:
    menu = build_menu([], ["Webcam"], [], MenuSettings(input_device="USB Mic"))
    gone = find(menu, "Input device", "USB Mic")
    assert gone.text == "USB Mic (not connected)" and gone.checked


def test_hotkey_modes_show_the_chord(menu: tuple[Item, ...]) -> None:
    hotkey = find(menu, "Hotkey").children
    assert [(i.text, i.arg, i.checked) for i in hotkey] == [
        ("Push to talk (<ctrl>+<alt>+space)", "ptt", False), ("Toggle (<ctrl>+<alt>+space)", "toggle", True)]


def test_autostart_checkbox_toggles() -> None:
    on = find(build_menu([], [], [], MenuSettings(autostart=True)), "Start at login")
    off = find(build_menu([], [], [], MenuSettings(autostart=False)), "Start at login")
    assert on.kind is Kind.CHECK and on.checked and on.arg is False
    assert not off.checked and off.arg is True


@pytest.mark.parametrize("path, call", [
    (("Voice", "Ryan"), ("set_voice", "Ryan")),
    (("Voice", "Record"), ("record_voice",)),
    (("Voice", "Remove voice", "Grandpa"), ("remove_voice", "Grandpa")),
    (("Input device", "System default"), ("set_input_device", SYSTEM_DEFAULT)),
    (("Output device", "Speakers"), ("set_output_device", "Speakers")),
    (("Hotkey", "Push to talk"), ("set_hotkey_mode", "ptt")),
    (("New conversation",), ("new_conversation",)),
    (("Start at login",), ("set_autostart", False)),
    (("Edit settings",), ("edit_settings",)),
    (("Open log",), ("open_log",)),
    (("Restart engines",), ("restart_engines",)),
    (("Quit",), ("quit",)),
])
def test_every_item_calls_its_action(menu: tuple[Item, ...], path: tuple[str, ...], call: tuple) -> None:
    actions = Recorder()
    invoke(find(menu, *path), actions)
    assert actions.calls == [call]


def test_labels_and_submenus_call_nothing(menu: tuple[Item, ...]) -> None:
    actions = Recorder()
    invoke(menu[0], actions)
    invoke(find(menu, "Voice"), actions)
    assert actions.calls == []


def test_find_names_what_exists() -> None:
    with pytest.raises(KeyError, match="no menu item starting with 'Nope'.*'Quit'"):
        find(build_menu([], [], [], MenuSettings()), "Nope")


def test_voice_entries_accept_tuples_objects_and_names() -> None:
    entries = voice_entries([("A", "x", True), ["B"], SimpleNamespace(name="C", description="y"), "D"])
    assert [(v.name, v.description, v.cloned) for v in entries] == [
        ("A", "x", True), ("B", "", False), ("C", "y", False), ("D", "", False)]


def test_settings_from_the_view_mapping() -> None:
    settings = MenuSettings.from_mapping({"tts.voice": "Ryan", "daemon.autostart": True, "other.key": 1})
    assert settings == MenuSettings(voice="Ryan", autostart=True)


def test_menu_is_hashable_data() -> None:
    """Backends compare menus to skip redundant rebuilds: equal inputs, equal menus."""
    assert build_menu(VOICES, ["a"], ["b"], CURRENT) == build_menu(list(VOICES), ("a",), ("b",), CURRENT)
    assert hash(build_menu(VOICES, ["a"], ["b"], CURRENT))
