"""``sisyphus``: run the daemon, or talk to the running one over its control socket.

The verbs that talk to the running daemon come from the command table
(daemon/commands/table.py); ``setup``, ``models`` and ``doctor`` belong to the installer
and run as their own process (the daemon never imports the installer).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from . import __version__, paths
from .logs import FORMAT
from .commands import output
from .commands.table import COMMANDS, GROUPS, Command, CommandName


CONFIG_HELP = "settings file (default: $SISYPHUS_CONFIG or the user config dir)"


def _global_options(parser: argparse.ArgumentParser, default=None) -> argparse.ArgumentParser:
    """--config and --debug, before the verb (defaults) or after it (SUPPRESS: only set when given)."""
    parser.add_argument("--config", default=default, help=CONFIG_HELP)
    parser.add_argument("--debug", action="store_true", default=default or False, help="verbose logging")
    return parser


class _Sub(argparse.ArgumentParser):
    """Every verb's parser also takes the global options, so `sisyphus run --debug` works."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if kwargs.get("add_help", True):  # the delegated verbs' parsers pass everything on
            _global_options(self, argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sisyphus", description="A resident desktop voice assistant.",
                                     formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=24),
                                     epilog="`sisyphus VERB --help` shows a verb's own options; the verbs that "
                                     "report take --json for scripts.")
    parser.add_argument("--version", action="version", version=f"sisyphus {__version__}")
    _global_options(parser)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Sub, title="verbs", metavar="VERB")

    run = sub.add_parser("run", help="run the assistant (tray, hotkey, engines)")
    run.add_argument("--fake-engines", action="store_true", help="deterministic fake engines (no models, no GPU)")
    run.add_argument("--profile", choices=["auto", "gpu", "cpu", "fake"], help="override [daemon] profile")
    run.add_argument("--headless", action="store_true", help="no tray and no hotkey listener; control socket only")
    run.add_argument("--mic-file", type=Path,
                     help="use this PCM WAV (any rate, width, channels) as the microphone, once per turn")
    run.add_argument("--speaker-file", type=Path, help="write the spoken audio to this WAV instead of a device")
    run.add_argument("--no-audio", action="store_true", help="open no audio device")
    _add_commands(sub)
    sub.add_parser("events", help="print the daemon's events as JSON lines")

    config = sub.add_parser("config", help="the settings file")
    config.add_argument("action", choices=["path", "check", "init"])
    for name, help_text in DELEGATED.items():
        verb = sub.add_parser(name, help=help_text, add_help=False)
        verb.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _add_commands(sub) -> None:
    groups = {name: sub.add_parser(name, help=text).add_subparsers(dest="action", required=True, title="verbs",
                                                                   metavar="VERB")
              for name, text in GROUPS.items()}
    for command in COMMANDS:
        if not command.cli:
            continue
        parent = groups[command.group] if command.group else sub
        verb = parent.add_parser(command.verb or command.name, help=command.help)
        verb.set_defaults(remote=command)
        for arg in command.args:
            name = f"--{arg.name}" if arg.flag else arg.name
            extra = {"required": not arg.optional} if arg.flag else {}
            verb.add_argument(name, help=arg.help, choices=arg.choices or None, **extra)
        verb.add_argument("--json", action="store_true", help="print the reply as JSON (for scripts)")


# Verbs whose argument parsing lives in their own module: ``main(argv, config_path) -> int``.
DELEGATED = {
    "setup": "create or repair the engine venvs (--profile cpu|gpu)",
    "models": "download (pull) or list the speech models",
    "doctor": "check everything and explain what to fix",
    "autostart": "start at login: enable, disable, status",
}
INSTALLER_MODULES = {"setup": "installer.setup", "models": "installer.models", "doctor": "installer.doctor"}


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except BrokenPipeError:  # `sisyphus status | head -1`: the reader left; stop quietly, as CLI tools do
        return closed_pipe()


def closed_pipe() -> int:
    """Point stdout at the null device so the interpreter's last flush cannot fail too; 141 = SIGPIPE's."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 141


def _main(argv: list[str]) -> int:
    head, rest = split_delegated(argv)
    rest, config, debug = pull_global_options(rest)
    args = build_parser().parse_args(head)
    args.config, args.debug = config or args.config, debug or args.debug
    if args.command == "run":
        return _run(args)
    if args.command == "config":
        return _config(args)
    if args.command in INSTALLER_MODULES:
        return _installer(INSTALLER_MODULES[args.command], rest, paths.config_path(args.config), args.debug)
    if args.command == "autostart":
        from .platform.autostart import cli

        if args.debug:
            logging.basicConfig(level=logging.DEBUG, format=FORMAT)
        return cli.main(rest, paths.config_path(args.config))
    if args.command == "events":
        return _events()
    return _remote(args.remote, args)


def split_delegated(argv: list[str]) -> tuple[list[str], list[str]]:
    """Cut a delegated verb's own arguments off: argparse's REMAINDER takes no leading option,
    so `sisyphus setup --profile cpu` would otherwise be refused."""
    i = 0
    while i < len(argv):
        if argv[i] in DELEGATED:
            return argv[: i + 1], argv[i + 1:]
        if not argv[i].startswith("-"):
            break
        i += 2 if argv[i] == "--config" else 1
    return argv, []


def pull_global_options(rest: list[str]) -> tuple[list[str], str | None, bool]:
    """A delegated verb's arguments without the global options given after the verb
    (`sisyphus doctor --config x.toml --debug`): (the rest, --config's value, --debug)."""
    kept: list[str] = []
    config, debug, i = None, False, 0
    while i < len(rest):
        word = rest[i]
        if word == "--":  # everything after it is the verb's own
            kept += rest[i:]
            break
        if word == "--debug":
            debug = True
        elif word == "--config" and i + 1 < len(rest):
            config, i = rest[i + 1], i + 1
        elif word.startswith("--config="):
            config = word.split("=", 1)[1]
        else:
            kept.append(word)
        i += 1
    return kept, config, debug


def _installer(module: str, rest: list[str], config_path: Path, debug: bool = False) -> int:
    """The installer's verbs run in their own interpreter, with the settings file named
    (and verbose logging asked for with SISYPHUS_DEBUG: installer/entry.py)."""
    env = {**os.environ, "SISYPHUS_CONFIG": str(config_path), **({"SISYPHUS_DEBUG": "1"} if debug else {})}
    try:
        # -P: the installed copy, never a checkout that happens to be the current directory
        return subprocess.run([sys.executable, "-P", "-m", module, *rest], env=env).returncode
    except KeyboardInterrupt:
        return 130


def _load(args):
    from .config import store

    path = paths.config_path(args.config)
    return store.load(path), path


def _run(args) -> int:
    from . import logs
    from .app.parts import RunOptions
    from .app.run import Daemon
    from .config.store import ConfigError
    from .instance import AlreadyRunning

    try:
        settings, path = _load(args)
    except ConfigError as exc:
        _print_config_error(exc)
        return 2
    log_path = logs.setup(paths.log_dir(), settings.daemon.log_level, args.debug, [settings.llm.api_key])
    profile = "fake" if args.fake_engines else (args.profile or "")
    options = RunOptions(profile=profile, headless=args.headless, mic_file=args.mic_file,
                         speaker_file=args.speaker_file, audio=not args.no_audio)
    try:
        return Daemon(settings, path, options).run()
    except AlreadyRunning as exc:
        print(f"sisyphus: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a part that could not be built: say which and why, exit non-zero
        import logging

        logging.getLogger("daemon").debug("start-up failed", exc_info=True)
        print(f"sisyphus: could not start: {exc}", file=sys.stderr)
        return 1
    finally:
        print(f"log: {log_path}", file=sys.stderr)


def _config(args) -> int:
    from .config.store import ConfigError, atomic_write, default_text

    path = paths.config_path(args.config)
    if args.action == "path":
        print(path)
        return 0
    if args.action == "init":
        if path.exists():
            print(f"{path} exists; not overwriting it", file=sys.stderr)
            return 1
        atomic_write(path, default_text())
        print(path)
        return 0
    try:
        _load(args)
    except ConfigError as exc:
        _print_config_error(exc)
        return 1
    print(f"{path}: OK" + ("" if path.exists() else " (no file: defaults)"))
    return 0


def _print_config_error(exc) -> None:
    print(f"sisyphus: the settings file {exc.path} has problems:", file=sys.stderr)
    for problem in exc.problems:
        print(f"  - {problem}", file=sys.stderr)


def _events() -> int:
    from .control import NotRunning, stream_events

    try:
        for event in stream_events(paths.runtime_dir()):
            print(json.dumps(event), flush=True)
    except NotRunning as exc:
        print(f"sisyphus: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _remote(command: Command, args) -> int:
    from .control import NotRunning, request

    message: dict = {"cmd": command.name}
    for arg in command.args:
        value = getattr(args, arg.name)
        if value is not None:
            message[arg.name] = str(Path(value).resolve()) if arg.path else value
    try:
        reply = request(paths.runtime_dir(), message, timeout=_timeout(command))
    except NotRunning as exc:
        if command.name == "list-tools":  # no daemon: start the servers for a moment to list them
            from .tools.listing import offline

            print(offline(paths.config_path(args.config)))
            return 0
        print(f"sisyphus: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"sisyphus: the daemon did not answer `{command.name}` within {_timeout(command):g} s; it may still "
              "be working on it: see `sisyphus status`, `sisyphus events` and the log", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if not reply.get("ok"):
        print(f"sisyphus: {reply.get('error')}", file=sys.stderr)
        return 1
    text = output.as_json(reply) if args.json else output.human(command.name, reply)
    if text:
        print(text)
    return 0


def _timeout(command: Command) -> float:
    # cloning waits for the engines (60 s), a transcription and the model (daemon/speech/voices.py)
    slow: dict[CommandName, float] = {"add-voice": 240.0, "remove-voice": 60.0}
    return slow.get(command.name, 10.0)


if __name__ == "__main__":
    sys.exit(main())
