"""The audio error: a device or stream problem, saying what and what to do."""
from __future__ import annotations


class AudioError(RuntimeError):
    """An audio device or stream problem; the message says what and what to do."""


def device_fix(kind: str) -> str:
    """How to choose another device: the CLI, which works with or without a tray."""
    return (f"choose one with `sisyphus set-{kind}-device NAME` (`sisyphus devices` lists them; "
            "\"default\" follows the system)")


def with_fix(text: str, kind: str) -> str:
    """``text``, ending with how to choose another device unless it says so already."""
    return text if "sisyphus set-" in text else f"{text}; {device_fix(kind)}"
