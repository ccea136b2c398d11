"""HTTP failures as daemon errors: what the server said, in any of the shapes servers use, and what to do.

Error bodies differ by server: OpenAI and vLLM-Omni send ``{"error": {"message", "type", "param",
"code"}}`` (vLLM-Omni's ``code`` is the HTTP status as an integer, its ``type`` a class name);
FastAPI servers (Speaches, Kokoro-FastAPI) send ``{"detail": "..."}``, ``{"detail": {"message": ...}}``
or a list of validation errors; openedai-speech a flat ``{"message", "code", "type"}``; others plain text.
"""
from __future__ import annotations

import json
from typing import Any

from daemon.errors import EngineRequestError

from .options import key_variable

MAX_MESSAGE = 300


class HttpStatusError(EngineRequestError):
    """The server answered a 4xx/5xx status; ``status`` and the server's own ``message`` kept."""

    def __init__(self, text: str, code: str, status: int, message: str) -> None:
        super().__init__(text, code)
        self.status = status
        self.message = message


def error_message(body: bytes) -> str:
    """The server's own words from an error body of any known shape ('' when it said nothing)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        value = json.loads(text)
    except ValueError:
        return _short(" ".join(text.split()))
    return _short(message_of(value) or text)


def message_of(value: Any) -> str:
    """The message in a decoded error body (or an SSE error event), '' when there is none."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # FastAPI validation: [{"loc": [...], "msg": "...", "type": ...}]
        return "; ".join(filter(None, (message_of(item) for item in value)))
    if not isinstance(value, dict):
        return ""
    for key in ("message", "msg"):  # before "error": Kokoro-FastAPI's "error" is a code beside its message
        if isinstance(value.get(key), str):
            where = value.get("loc") or value.get("param")
            suffix = f" ({'.'.join(map(str, where)) if isinstance(where, list) else where})" if where else ""
            return value[key] + suffix
    for key in ("error", "detail"):
        if key in value and (found := message_of(value[key])):
            return found
    return ""


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"


def status_error(name: str, url: str, status: int, body: bytes) -> HttpStatusError:
    """The error for a 4xx/5xx answer, naming the server's words and the fix for this status."""
    message = error_message(body) or "no details"
    said = f"{name} engine at {url} answered HTTP {status}: {message}"
    if status in (401, 403):
        return HttpStatusError(f"{said}; set its key in {key_variable(name)} (or [{name}] api_key)", "engine_auth",
                               status, message)
    if status == 404:
        return HttpStatusError(f"{said}; check [{name}] uri (most servers' end in /v1) and [{name}] model",
                               "engine_not_found", status, message)
    if status == 429:
        return HttpStatusError(f"{said}; the server is busy or over its quota, try again shortly", "engine_busy",
                               status, message)
    if status < 500:
        if name == "tts" and any(word in message.lower() for word in ("voice", "speaker")):
            said += "; choose a voice it offers: `sisyphus voices list`, then `sisyphus set-voice NAME`"
        return HttpStatusError(said, "engine_bad_request", status, message)
    return HttpStatusError(said, "engine_error", status, message)


def mentions(error: HttpStatusError, word: str) -> bool:
    """A 400/422 that names ``word``: the server refused that field (OpenAI refuses unknown fields)."""
    return error.status in (400, 422) and word in error.message.lower()
