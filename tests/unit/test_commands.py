"""One command table: the tray menu, the control socket and the CLI offer the same commands."""
from __future__ import annotations

import pytest

from daemon.cli import build_parser
from daemon.commands.actions import Commands
from daemon.config.schema import Settings
from daemon.commands.table import BY_METHOD, BY_NAME, COMMANDS, arguments
from daemon.platform.tray.menu import MenuSettings, build_menu


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
    with pytest.raises(AttributeError, match="not a command"):
        actions.format_disk()
