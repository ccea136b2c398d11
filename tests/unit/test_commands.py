"""One command table: the tray menu, the control socket and the CLI offer the same commands."""
from __future__ import annotations

from typing import get_args

import pytest

from daemon.cli import build_parser
from daemon.commands.actions import Commands
from daemon.config.schema import Settings
from daemon.commands.table import BY_METHOD, BY_NAME, COMMANDS, CommandMethod, CommandName, arguments
from daemon.platform.tray.menu import Actions, MenuSettings, TrayAction, build_menu


def actions_in(items) -> set[str]:
    found = set()
    for item in items:
        if item.action:
            found.add(item.action)
        found |= actions_in(item.children)
    return found


def test_every_menu_item_runs_a_command_of_the_table():
    voices = [("alto", "", False), ("mine", "cloned", True)]
    menu = build_menu(voices, ["USB Mic"], ["Speakers"], MenuSettings(), ["Idle"])
    used = actions_in(menu)
    assert used and used <= set(BY_METHOD), used - set(BY_METHOD)
    assert {"set_voice", "remove_voice", "record_voice", "restart_engines", "quit"} <= used


def test_every_command_has_its_method():
    for command in COMMANDS:
        assert callable(getattr(Commands, command.method, None)), command.name
    assert len(BY_NAME) == len(COMMANDS) == len(BY_METHOD)  # names and methods are unique


def test_the_typed_names_agree_with_the_table_and_the_handlers():
    """mypy checks the menu, the table and the handlers through these Literals: they must say the same."""
    from daemon.app.tray import TrayActions

    assert sorted(get_args(CommandMethod)) == sorted(BY_METHOD)
    assert sorted(get_args(CommandName)) == sorted(BY_NAME)
    tray = set(get_args(TrayAction))
    assert tray <= set(BY_METHOD), tray - set(BY_METHOD)
    protocol = {name for name in vars(Actions) if not name.startswith("_") and callable(vars(Actions)[name])}
    assert protocol == tray, protocol ^ tray
    for action in tray:
        assert callable(getattr(TrayActions, action, None)) and callable(getattr(Commands, action, None)), action


def test_the_cli_offers_every_cli_command_with_its_arguments():
    parser = build_parser()
    args = parser.parse_args(["voices", "add", "carol", "--audio", "ref.wav", "--text", "Hello there."])
    assert args.remote is BY_NAME["add-voice"] and (args.name, args.audio, args.text) == ("carol", "ref.wav",
                                                                                          "Hello there.")
    assert parser.parse_args(["voices", "record", "--name", "dave"]).remote is BY_NAME["record-voice"]
    assert parser.parse_args(["voices", "list"]).remote is BY_NAME["list-voices"]
    assert parser.parse_args(["set-voice", "alto"]).remote is BY_NAME["set-voice"]
    assert parser.parse_args(["devices"]).remote is BY_NAME["devices"]
    for command in COMMANDS:
        if command.cli:
            words = [command.group, command.verb] if command.group else [command.name]
            words += [f"--{a.name}=x" if a.flag else (a.choices[0] if a.choices else "x") for a in command.args]
            assert parser.parse_args(words).remote is command
    with pytest.raises(SystemExit):
        parser.parse_args(["voices", "add", "carol"])  # --audio is required


def test_control_requests_are_checked_against_the_table():
    assert arguments(BY_NAME["ptt"], {"cmd": "ptt", "action": "press"}) == {"action": "press"}
    with pytest.raises(ValueError, match="ptt needs action \\(press, release, toggle\\)"):
        arguments(BY_NAME["ptt"], {"cmd": "ptt"})
    with pytest.raises(ValueError, match="action must be press, release, toggle"):
        arguments(BY_NAME["ptt"], {"cmd": "ptt", "action": "smash"})
    with pytest.raises(ValueError, match="enabled must be bool"):
        arguments(BY_NAME["set-autostart"], {"cmd": "set-autostart", "enabled": "yes"})
    assert arguments(BY_NAME["record-voice"], {"cmd": "record-voice"}) == {}


def test_tray_clicks_become_commands_on_the_core_loop():
    from daemon.app.tray import TrayActions
    from daemon.platform.tray import create_tray, frame_for, initial_view

    calls: list[tuple] = []
    actions = TrayActions(lambda method, *args: calls.append((method, *args)))
    tray = create_tray(actions, "dummy")
    tray.show(frame_for(initial_view(Settings())))
    tray.click("Restart engines")
    tray.click("Hotkey", "Toggle")
    tray.click("Quit")
    assert calls == [("restart_engines",), ("set_hotkey_mode", "toggle"), ("quit",)]
    assert not hasattr(actions, "format_disk")  # only the menu's actions, no catch-all


def test_every_menu_item_reaches_a_handler_through_the_tray_actions():
    from daemon.app.tray import TrayActions
    from daemon.platform.tray.menu import invoke

    calls: list[tuple] = []
    actions = TrayActions(lambda method, *args: calls.append((method, *args)))
    menu = build_menu([("alto", "", False), ("mine", "cloned", True)], ["USB Mic"], ["Speakers"], MenuSettings())

    def click_all(items) -> int:
        clicked = 0
        for item in items:
            invoke(item, actions)
            clicked += bool(item.action) + click_all(item.children)
        return clicked

    assert click_all(menu) == len(calls) > 0
    assert {call[0] for call in calls} == set(get_args(TrayAction))  # every action the menu has, each one runs
    for method, *args in calls:
        assert callable(getattr(Commands, method, None)), method
        assert BY_METHOD[method].method == method and len(args) <= len(BY_METHOD[method].args), (method, args)
