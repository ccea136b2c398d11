"""Tool arguments and results as they go to the log: secrets masked, long values cut. Pure."""
from __future__ import annotations

import json
import re
from typing import Any

_SECRET_KEY = re.compile(r"pass|secret|token|api.?key|auth|cookie|credential|private", re.I)
_SECRET_VALUE = re.compile(r"^(bearer\s+\S+|sk-[A-Za-z0-9_-]{8,}|gh[pousr]_[A-Za-z0-9]{16,}|eyJ[A-Za-z0-9_-]{16,}\..*)$",
                           re.I)
_IN_TEXT = re.compile(r"(?i)(bearer\s+)\S+|\bsk-[A-Za-z0-9_-]{8,}|\bgh[pousr]_[A-Za-z0-9]{16,}|\beyJ[A-Za-z0-9_.-]{16,}")
MASK = "***"
LOG_CHARS = 300


def redact(value: Any, depth: int = 0) -> Any:
    """``value`` with the values of secret-looking keys, and secret-looking strings, replaced by ***."""
    if isinstance(value, dict):
        return {k: MASK if _SECRET_KEY.search(str(k)) else redact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, depth + 1) for v in value]
    if isinstance(value, str) and _SECRET_VALUE.match(value.strip()):
        return MASK
    return value


def for_log(value: Any, limit: int = LOG_CHARS) -> str:
    """One log line's worth: redacted, as JSON, cut at ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(redact(value), ensure_ascii=False, default=str)
    if isinstance(value, str):
        text = _IN_TEXT.sub(lambda m: (m.group(1) or "") + MASK, text)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def cut(text: str, limit: int) -> str:
    """A tool result cut to ``limit`` characters for the LLM, saying that it was cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[cut: the result had {len(text)} characters]"
