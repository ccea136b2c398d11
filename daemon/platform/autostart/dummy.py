"""Autostart kept in memory: for tests and platforms with no known mechanism."""
from __future__ import annotations

from typing import Sequence

from .base import Autostart, check_command


class DummyAutostart(Autostart):
    def __init__(self) -> None:
        self.command: list[str] | None = None

    location = "memory (SISYPHUS_AUTOSTART=dummy)"

    def enable(self, command: Sequence[str]) -> None:
        self.command = check_command(command)

    def disable(self) -> None:
        self.command = None

    def is_enabled(self) -> bool:
        return self.command is not None
