"""The one list of what can be asked of the running daemon: the tray menu, the control socket
and the ``sisyphus`` CLI all go through it.

A command's ``name`` is its control-socket ``cmd`` and its CLI verb (``group`` puts it
under a parent verb: ``sisyphus voices add``); ``method`` names the Commands method
(daemon/commands/actions.py) that runs it on the core loop, and the tray menu names
these same methods (``CommandName`` and ``CommandMethod`` type them for mypy). Arguments travel as JSON fields of the request.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Every ``name`` and every ``method`` of the table, for mypy (tests/unit/test_commands.py checks they agree).
CommandName = Literal["status", "ptt", "stop", "new-conversation", "restart-engines", "quit", "set-voice",
                      "set-hotkey-mode", "devices", "set-input-device", "set-output-device", "set-autostart",
                      "edit-settings", "open-log", "list-voices", "add-voice", "remove-voice", "record-voice",
                      "list-tools", "restart-tools"]
CommandMethod = Literal["status", "ptt", "stop", "new_conversation", "restart_engines", "quit", "set_voice",
                        "set_hotkey_mode", "devices", "set_input_device", "set_output_device", "set_autostart",
                        "edit_settings", "open_log", "list_voices", "add_voice", "remove_voice", "record_voice",
                        "list_tools", "restart_tools"]


@dataclass(frozen=True)
class Arg:
    name: str
    help: str
    choices: tuple[str, ...] = ()
    flag: bool = False      # --name VALUE on the command line (else positional)
    path: bool = False      # a file the daemon reads: the CLI sends it absolute
    kind: type = str
    optional: bool = False


@dataclass(frozen=True)
class Command:
    name: CommandName
    method: CommandMethod
    help: str
    args: tuple[Arg, ...] = ()
    group: str = ""         # the parent CLI verb
    verb: str = ""          # the CLI word under ``group`` (default: the name)
    cli: bool = True        # offered as a CLI verb (tray-only commands are not)


NAME = Arg("name", "the voice's name")
DEVICE = Arg("name", 'the device\'s name, or "default" to follow the system')
COMMANDS: tuple[Command, ...] = (
    Command("status", "status", "engine states and the last turn's timings"),
    Command("ptt", "ptt", "push-to-talk from a desktop shortcut (Wayland)",
            (Arg("action", "what the key did", ("press", "release", "toggle")),)),
    Command("stop", "stop", "stop speaking (without listening)"),
    Command("new-conversation", "new_conversation", "forget the conversation history"),
    Command("restart-engines", "restart_engines", "stop every engine, healthy or not, and start it again (new processes; leaves FAILED)"),
    Command("quit", "quit", "stop the running daemon"),
    Command("set-voice", "set_voice", "speak with this voice (saved in the settings)", (NAME,)),
    Command("set-hotkey-mode", "set_hotkey_mode", "ptt: hold to talk; toggle: press to start and stop",
            (Arg("mode", "the hotkey mode", ("ptt", "toggle")),)),
    Command("devices", "devices", "list the audio devices and the ones in use"),
    Command("set-input-device", "set_input_device", "use this microphone (saved in the settings)", (DEVICE,)),
    Command("set-output-device", "set_output_device", "use this speaker (saved in the settings)", (DEVICE,)),
    Command("set-autostart", "set_autostart", "start at login", (Arg("enabled", "on or off", kind=bool),),
            cli=False),
    Command("edit-settings", "edit_settings", "open the settings file in the desktop's editor", cli=False),
    Command("open-log", "open_log", "open the log file", cli=False),
    Command("list-voices", "list_voices", "the voices the speech engine offers", group="voices", verb="list"),
    Command("add-voice", "add_voice", "clone a voice from a recording of someone speaking",
            (NAME, Arg("audio", "a WAV file, 3 to 30 s of one person speaking", flag=True, path=True),
             Arg("text", "the words said in it (transcribed when not given)", flag=True, optional=True)),
            group="voices", verb="add"),
    Command("remove-voice", "remove_voice", "remove a cloned voice", (NAME,), group="voices", verb="remove"),
    Command("record-voice", "record_voice", "the next hold of the hotkey records a voice to clone",
            (Arg("name", "the new voice's name (default my-voice-N)", flag=True, optional=True),), group="voices",
            verb="record"),
    Command("list-tools", "list_tools", "the MCP tool servers, their state and their tools", group="tools",
            verb="list"),
    Command("restart-tools", "restart_tools", "connect again to MCP tool servers that failed", group="tools",
            verb="restart"),
)
BY_NAME = {command.name: command for command in COMMANDS}
BY_METHOD = {command.method: command for command in COMMANDS}
GROUPS = {"voices": "the cloned voices: list, add, remove, record",
          "tools": "the MCP tools the assistant may use: list, restart"}


def arguments(command: Command, request: dict) -> dict:
    """The command's arguments from a control request; ValueError names a missing or bad one."""
    out = {}
    for arg in command.args:
        value = request.get(arg.name)
        if value is None:
            if arg.optional:
                continue
            wanted = ", ".join(arg.choices) if arg.choices else arg.help
            raise ValueError(f"{command.name} needs {arg.name} ({wanted})")
        if not isinstance(value, arg.kind) or (arg.choices and value not in arg.choices):
            allowed = ", ".join(arg.choices) if arg.choices else arg.kind.__name__
            raise ValueError(f"{command.name}: {arg.name} must be {allowed}, got {value!r}")
        out[arg.name] = value
    return out
