"""Errors with stable codes, sent to clients as Wyoming ``error{text, code}`` events."""
from __future__ import annotations

from wyoming.error import Error

# Stable codes. Clients (the daemon, Home Assistant) match on these, never on text.
MODEL_NOT_FOUND = "model_not_found"
CUDA_OOM = "cuda_oom"
BAD_AUDIO = "bad_audio"
BAD_REQUEST = "bad_request"
BAD_VOICE = "bad_voice"
UNKNOWN_VOICE = "unknown_voice"
UNSUPPORTED = "unsupported"
BUSY = "busy"
IDLE_TIMEOUT = "idle_timeout"
INTERNAL = "internal_error"

# Exit status of an engine that cannot start because of its configuration
# (missing model, bad argument). The supervisor does not crash-loop on it.
EXIT_CONFIG = 78
# Prefix of the one stderr line that explains a fatal start-up error to the supervisor.
FATAL_PREFIX = "sisyphus-engine-fatal: "


class EngineError(Exception):
    """An error a client should see, with a stable code."""

    code = INTERNAL

    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        if code is not None:
            self.code = code

    def event(self):
        return Error(text=self.text, code=self.code).event()


class ModelNotFound(EngineError):
    code = MODEL_NOT_FOUND


class BadRequest(EngineError):
    code = BAD_REQUEST


class Cancelled(Exception):
    """Raised inside model code when the client went away; never sent anywhere."""


def is_cuda_oom(exc: BaseException) -> bool:
    """True for torch's OutOfMemoryError without importing torch here."""
    name = type(exc).__name__
    return name == "OutOfMemoryError" or "CUDA out of memory" in str(exc)
