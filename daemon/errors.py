"""Daemon-side errors with stable codes (the same codes appear in error events)."""
from __future__ import annotations


class SisyphusError(Exception):
    code = "error"

    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        if code:
            self.code = code


class EngineUnavailable(SisyphusError):
    """The engine is not READY (starting, restarting, failed or unloaded), or cannot be reached."""

    code = "engine_unavailable"


class EngineUnreachable(EngineUnavailable):
    """Nothing answered at the engine's address: refused, reset, no socket, or no answer in time.

    ``reason`` is what ``status`` shows, without the engine's name:
    ``unreachable (connection refused to tcp://127.0.0.1:1)``."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name} engine is {reason}")
        self.reason = reason


class EngineRequestError(SisyphusError):
    """The engine answered ``error{code, text}``, died mid-request, or sent garbage."""

    code = "engine_error"
