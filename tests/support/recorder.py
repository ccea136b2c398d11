"""A stand-in for the composition root's actions: records every call made on it."""
from __future__ import annotations


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __getattr__(self, name: str):
        return lambda *args: self.calls.append((name, *args))
