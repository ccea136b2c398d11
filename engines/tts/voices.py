"""``python -m engines.tts.voices add NAME --audio ref.wav [--text ...] | list | remove NAME | set-text NAME TEXT``

Manages the voices dir offline (no model needed). A running engine sees the change
at its next ``describe``; the clone prompt is computed on first use and cached.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from engines.protocol.errors import EngineError

from . import reference
from .store import VoiceStore, default_dir


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engines.tts.voices", description="Manage cloned voices.")
    parser.add_argument("--voices-dir", type=Path, default=default_dir(), help="default: %(default)s")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add a voice from 3-30 s of reference speech")
    add.add_argument("name")
    add.add_argument("--audio", type=Path, required=True, help="reference recording (WAV, FLAC, ...)")
    add.add_argument("--text", default="", help="what is said in the recording (better clones)")
    add.add_argument("--replace", action="store_true", help="replace a voice of the same name")
    sub.add_parser("list", help="list cloned voices as JSON lines")
    remove = sub.add_parser("remove", help="delete a voice")
    remove.add_argument("name")
    set_text = sub.add_parser("set-text", help="set the transcript of a voice's reference")
    set_text.add_argument("name")
    set_text.add_argument("text")
    return parser


def run(args: argparse.Namespace) -> None:
    store = VoiceStore(args.voices_dir)
    if args.command == "add":
        audio, rate = reference.read_file(args.audio)
        voice = store.add(args.name, audio, rate, args.text, replace=args.replace)
        print(f"added voice {voice.name!r} ({voice.seconds:.1f} s) in {voice.path}")
    elif args.command == "list":
        for voice in store.list():
            print(json.dumps(voice.describe(), ensure_ascii=False))
    elif args.command == "remove":
        store.remove(args.name)
        print(f"removed voice {args.name!r}")
    elif args.command == "set-text":
        store.set_text(args.name, args.text)
        print(f"set the text of voice {args.name!r}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        run(args)
    except EngineError as exc:
        print(f"error ({exc.code}): {exc.text}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
