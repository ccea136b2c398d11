"""Chord parsing and the pure press/release state machine; backend selection without a display."""
from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.config.chord import ChordError, parse_chord
from daemon.platform.hotkey import DummyHotkey, HotkeyUnavailable, create_hotkey
from daemon.platform.hotkey.chord import ChordState, Edge
from daemon.platform.hotkey.pynput_backend import key_to_name


@pytest.mark.parametrize("text,keys", [
    ("<ctrl>+<alt>+space", {"ctrl", "alt", "space"}),
    ("<f9>", {"f9"}),
    ("ctrl+shift+a", {"ctrl", "shift", "a"}),
    ("Control + Super + Return", {"ctrl", "cmd", "enter"}),
    ("<ctrl_r>+A", {"ctrl", "a"}),
    ("ctrl+plus", {"ctrl", "+"}),
    ("<ctrl>+<alt>", {"ctrl", "alt"}),
])
def test_parse(text: str, keys: set[str]) -> None:
    assert parse_chord(text).keys == frozenset(keys)


def test_str_round_trips() -> None:
    chord = parse_chord("space+<alt>+ctrl")
    assert str(chord) == "<alt>+<ctrl>+<space>"
    assert parse_chord(str(chord)) == chord


@pytest.mark.parametrize("text,message", [
    ("", "empty"),
    ("ctrl++a", "empty part"),
    ("<ctrl>+<hyper>+a", r"unknown key '<hyper>'.*Valid names: modifiers alt"),
    ("ctrl+ctrl+a", "names 'ctrl' twice"),
    ("ctrl+a+b", "more than one non-modifier key"),
])
def test_bad_chords_name_the_bad_part(text: str, message: str) -> None:
    with pytest.raises(ChordError, match=message):
        parse_chord(text)


def _run(state: ChordState, events: list[tuple[str, str]]) -> list[Edge]:
    out = []
    for kind, key in events:
        edge = state.down(key) if kind == "d" else state.up(key)
        if edge:
            out.append(edge)
    return out


CTRL_ALT_SPACE = parse_chord("<ctrl>+<alt>+space")


def test_press_on_completion_release_on_first_key_up() -> None:
    s = ChordState(CTRL_ALT_SPACE)
    assert _run(s, [("d", "ctrl_l"), ("d", "alt_l"), ("d", "space")]) == [Edge.PRESS]
    assert _run(s, [("u", "alt_l")]) == [Edge.RELEASE]
    assert _run(s, [("u", "space"), ("u", "ctrl_l")]) == []


def test_auto_repeat_does_not_repress() -> None:
    s = ChordState(parse_chord("<f9>"))
    assert _run(s, [("d", "f9")] * 20 + [("u", "f9")]) == [Edge.PRESS, Edge.RELEASE]


def test_other_side_modifier_keeps_the_chord() -> None:
    s = ChordState(CTRL_ALT_SPACE)
    _run(s, [("d", "ctrl_l"), ("d", "ctrl_r"), ("d", "alt_l"), ("d", "space")])
    assert _run(s, [("u", "ctrl_l")]) == []  # ctrl_r still held
    assert _run(s, [("u", "ctrl_r")]) == [Edge.RELEASE]


def test_extra_modifier_does_not_fire() -> None:
    s = ChordState(CTRL_ALT_SPACE)
    assert _run(s, [("d", "shift_l"), ("d", "ctrl_l"), ("d", "alt_l"), ("d", "space")]) == []
    assert _run(s, [("u", "shift_l"), ("u", "space"), ("d", "space")]) == [Edge.PRESS]


def test_repress_key_while_modifiers_held() -> None:
    s = ChordState(CTRL_ALT_SPACE)
    events = [("d", "ctrl_l"), ("d", "alt_l"), ("d", "space"), ("u", "space"), ("d", "space"), ("u", "space")]
    assert _run(s, events) == [Edge.PRESS, Edge.RELEASE, Edge.PRESS, Edge.RELEASE]


def test_reset_releases_an_active_chord() -> None:
    s = ChordState(parse_chord("<f9>"))
    s.down("f9")
    assert s.reset() is Edge.RELEASE and s.reset() is None


KEYS = ["ctrl_l", "ctrl_r", "alt_l", "space", "shift_l", "a"]


@given(st.lists(st.tuples(st.sampled_from("du"), st.sampled_from(KEYS)), max_size=60))
def test_edges_always_alternate_and_match_key_state(events: list[tuple[str, str]]) -> None:
    s = ChordState(CTRL_ALT_SPACE)
    edges = _run(s, events)
    assert all(e is (Edge.PRESS if i % 2 == 0 else Edge.RELEASE) for i, e in enumerate(edges))
    assert s.active == (len(edges) % 2 == 1)


def test_pynput_key_names() -> None:
    import enum

    class Key(enum.Enum):  # the shape of pynput.keyboard.Key without importing pynput
        ctrl_l = 1

    class KeyCode:
        def __init__(self, char=None, vk=None):
            self.char, self.vk = char, vk

    assert key_to_name(Key.ctrl_l) == "ctrl_l"
    assert key_to_name(KeyCode("A")) == "a"
    assert key_to_name(KeyCode("\x01")) == "a"
    assert key_to_name(KeyCode(vk=65027)) == "vk65027"


async def test_dummy_backend_is_triggered_programmatically() -> None:
    seen: list[str] = []
    hk = create_hotkey("dummy", "<ctrl>+<alt>+space", env={})
    await hk.start(lambda: seen.append("press"), lambda: seen.append("release"))
    hk.press()
    hk.press()  # idempotent while held
    hk.release()
    hk.press()
    await hk.stop()  # stopping releases an active chord: no turn stays open
    assert seen == ["press", "release", "press", "release"]


def test_auto_without_display_falls_back_to_dummy_with_a_hint(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        hk = create_hotkey("auto", "<f9>", env={"WAYLAND_DISPLAY": "wayland-0"}, platform="linux")
    assert isinstance(hk, DummyHotkey)
    assert "Wayland" in caplog.text and "sisyphus ptt toggle" in caplog.text


def test_explicit_pynput_without_display_is_an_error() -> None:
    with pytest.raises(HotkeyUnavailable, match=r"no display.*sisyphus ptt toggle"):
        create_hotkey("pynput", "<f9>", env={}, platform="linux")


def test_env_override_and_bad_backend() -> None:
    assert isinstance(create_hotkey("pynput", "<f9>", env={"SISYPHUS_HOTKEY_BACKEND": "dummy"}), DummyHotkey)
    with pytest.raises(ValueError, match="unknown hotkey backend 'evdev'"):
        create_hotkey("evdev", "<f9>", env={})
