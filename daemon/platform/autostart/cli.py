"""``sisyphus autostart enable|disable|status``: the login entry and the [daemon] setting together.

The setting and the entry are changed together so the daemon, which may reconcile the
entry with the setting at start-up, never undoes what the user asked for here.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from . import AutostartError, daemon_command, get_autostart


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sisyphus autostart", description="Start sisyphus at login.")
    parser.add_argument("action", choices=["enable", "disable", "status"])
    return parser


def main(argv: Sequence[str], config_path: Path | None = None) -> int:
    """Run the verb; 0 on success, 1 when the entry or the settings file could not be changed."""
    args = _parser().parse_args(list(argv))
    auto = get_autostart()
    if args.action == "status":
        print(f"autostart: {'enabled' if auto.is_enabled() else 'disabled'} ({auto.location})")
        return 0
    enable = args.action == "enable"
    try:
        if enable:
            auto.enable(daemon_command(config_path.resolve() if config_path else None))
        else:
            auto.disable()
    except AutostartError as exc:
        print(f"sisyphus autostart: {exc}", file=sys.stderr)
        return 1
    print(f"autostart {'enabled' if enable else 'disabled'} ({auto.location})")
    return _record(config_path, enable)


def _record(config_path: Path | None, enabled: bool) -> int:
    """Keep [daemon] autostart in the settings file in step with the entry."""
    if config_path is None:
        return 0
    from daemon.config.store import ConfigError, default_text, write_settings

    try:
        write_settings(config_path, {"daemon": {"autostart": enabled}}, template=default_text())
    except (ConfigError, OSError) as exc:
        print(f"sisyphus autostart: the login entry changed, but [daemon] autostart in {config_path} "
              f"could not be set ({exc}); set it by hand", file=sys.stderr)
        return 1
    return 0
