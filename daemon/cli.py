"""``sisyphus``: run the daemon, or talk to the running one over its control socket."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__, paths


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sisyphus", description="A resident desktop voice assistant.")
    parser.add_argument("--version", action="version", version=f"sisyphus {__version__}")
    parser.add_argument("--config", help="settings file (default: $SISYPHUS_CONFIG or the user config dir)")
    parser.add_argument("--debug", action="store_true", help="verbose logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the assistant (tray, hotkey, engines)")
    run.add_argument("--fake-engines", action="store_true", help="deterministic fake engines (no models, no GPU)")
    run.add_argument("--profile", choices=["auto", "gpu", "cpu", "fake"], help="override [daemon] profile")
    run.add_argument("--headless", action="store_true", help="no tray and no hotkey listener; control socket only")
    run.add_argument("--mic-file", type=Path,
                     help="use this PCM WAV (any rate, width, channels) as the microphone, once per turn")
    run.add_argument("--speaker-file", type=Path, help="write the spoken audio to this WAV instead of a device")
    run.add_argument("--no-audio", action="store_true", help="open no audio device")

    sub.add_parser("status", help="engine states and the last turn's timings")
    ptt = sub.add_parser("ptt", help="push-to-talk from a desktop shortcut (Wayland)")
    ptt.add_argument("action", choices=["press", "release", "toggle"])
    sub.add_parser("stop", help="stop speaking (without listening)")
    sub.add_parser("quit", help="stop the running daemon")
    sub.add_parser("restart-engines", help="restart every engine (also leaves FAILED)")
    sub.add_parser("new-conversation", help="forget the conversation history")
    sub.add_parser("events", help="print the daemon's events as JSON lines")

    config = sub.add_parser("config", help="the settings file")
    config.add_argument("action", choices=["path", "check", "init"])
    for name, help_text in DELEGATED.items():
        verb = sub.add_parser(name, help=help_text, add_help=False)
        verb.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


# Verbs whose argument parsing lives in their own module: ``main(argv, config_path) -> int``.
DELEGATED = {
    "setup": "create or repair the engine venvs (installer.setup)",
    "models": "download or list the speech models (installer.models)",
    "doctor": "check everything and explain what to fix (daemon.doctor)",
    "autostart": "start at login: enable, disable, status (daemon.platform.autostart)",
}
DELEGATE_MODULES = {"setup": "installer.setup", "models": "installer.models", "doctor": "daemon.doctor",
                    "autostart": "daemon.platform.autostart.cli"}


def main(argv: list[str] | None = None) -> int:
    head, rest = split_delegated(sys.argv[1:] if argv is None else list(argv))
    args = build_parser().parse_args(head)
    if args.command == "run":
        return _run(args)
    if args.command == "config":
        return _config(args)
    if args.command in DELEGATED:
        import importlib

        module = importlib.import_module(DELEGATE_MODULES[args.command])
        return module.main(rest, paths.config_path(args.config))
    return _remote(args)


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


def _load(args):
    from . import config

    path = paths.config_path(args.config)
    return config.load(path), path


def _run(args) -> int:
    from . import logs
    from .app import App, RunOptions
    from .config import ConfigError
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
        return App(settings, path, options).run()
    except AlreadyRunning as exc:
        print(f"sisyphus: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    finally:
        print(f"log: {log_path}", file=sys.stderr)


def _config(args) -> int:
    from .config import ConfigError, atomic_write, default_text

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


def _remote(args) -> int:
    from .control import NotRunning, request, stream_events

    runtime = paths.runtime_dir()
    try:
        if args.command == "events":
            for event in stream_events(runtime):
                print(json.dumps(event), flush=True)
            return 0
        message = {"cmd": args.command}
        if args.command == "ptt":
            message["action"] = args.action
        reply = request(runtime, message)
    except NotRunning as exc:
        print(f"sisyphus: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if not reply.get("ok"):
        print(f"sisyphus: {reply.get('error')}", file=sys.stderr)
        return 1
    print(_format_status(reply) if args.command == "status" else json.dumps(reply))
    return 0


def _format_status(reply: dict) -> str:
    lines = [f"sisyphus {reply['version']} (pid {reply['pid']}, up {reply['uptime_s']} s, profile {reply['profile']})",
             f"state: {reply['state']}", "engines:"]
    for name, engine in reply["engines"].items():
        where = "remote " + engine["uri"] if engine["remote"] else f"pid {engine['pid']}"
        reason = f" - {engine['reason']}" if engine["reason"] else ""
        lines.append(f"  {name}: {engine['state']} ({where}){reason}")
        if engine.get("about"):
            lines.append(f"    {engine['about']}")
    timings = reply.get("last_timings_ms") or {}
    if timings:
        lines.append("last turn (ms from key-up): " + ", ".join(f"{k} {v}" for k, v in timings.items()))
    for key in ("vram",):
        if reply.get(key):
            lines.append(f"{key}: {reply[key]}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
