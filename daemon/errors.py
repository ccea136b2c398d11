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
    """The engine is not READY (starting, restarting, failed or unloaded)."""

    code = "engine_unavailable"


class EngineRequestError(SisyphusError):
    """The engine answered ``error{code, text}``, died mid-request, or sent garbage."""

    code = "engine_error"
