"""Run the tray alone, driven by JSON lines on stdin: for the desktop tests and by hand.

    python -m tests.support.tray_demo [--backend auto|pystray|dummy] [--pystray gtk]

stdin, one bus event per line: {"kind": "state", "state": "listening"},
{"kind": "level", "level": 0.7}, {"kind": "engine", "name": "tts", "state": "failed"}, ...
and {"kind": "devices", "inputs": [...], "outputs": [...]}; EOF quits.
stdout: "ready <backend>", "shown <icon key>" after each applied event,
"action <name> <json arg>" for each menu click, "done" at the end.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
from types import SimpleNamespace
from typing import Any

from daemon.platform.tray import TrayPresenter, create_tray


class PrintingActions:
    """Every action prints its name and argument; ``quit`` also stops the tray."""

    def __init__(self) -> None:
        self.tray: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)

        def action(*args: Any) -> None:
            _emit(f"action {name} {json.dumps(args[0] if args else None)}")
            if name == "quit" and self.tray is not None:
                self.tray.stop()

        return action


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _feed(presenter: TrayPresenter) -> None:
    """Read events until EOF, then stop the tray (the parent test went away)."""
    for line in sys.stdin:
        if not line.strip():
            continue
        data = json.loads(line)
        if data.get("kind") == "devices":
            presenter.set_devices(data.get("inputs", []), data.get("outputs", []))
        else:
            presenter.on_event(SimpleNamespace(**data))
        shown = presenter.backend.shown
        _emit(f"shown {shown.icon.name if shown else '-'}")
    presenter.backend.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="auto", choices=("auto", "pystray", "dummy"))
    parser.add_argument("--pystray", default=None, help="force a pystray backend (appindicator, gtk, xorg)")
    args = parser.parse_args(argv)
    actions = PrintingActions()
    tray = create_tray(actions, args.backend, pystray_backend=args.pystray)
    actions.tray = tray
    presenter = TrayPresenter(tray)

    def ready() -> None:
        _emit(f"ready {tray.name}")
        threading.Thread(target=_feed, args=(presenter,), daemon=True).start()

    tray.run(ready)
    _emit("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
