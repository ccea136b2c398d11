"""The safety rule: which tool calls run at once, how the others are asked about, and what
counts as a yes. Pure.

A tool runs without asking only when the settings allow it by name (``[tools] allow``, or a
server's own ``allow``) or when its server marks it read-only (``readOnlyHint``). Any other call
is asked about aloud ("Shall I delete the note shopping?") and runs only when the next
push-to-talk turn is a yes; a no, silence, anything else cancels it.
"""
from __future__ import annotations

import enum
import re
from typing import Any, Iterable, Mapping

from .session import ToolInfo

_YES = {"yes", "yeah", "yep", "yup", "sure", "ok", "okay", "affirmative", "absolutely", "certainly", "confirm",
        "confirmed", "correct", "proceed"}
_YES_PHRASES = ("go ahead", "do it", "please do", "yes please", "of course", "that's right", "sounds good")
_NO = {"no", "nope", "nah", "don't", "dont", "not", "cancel", "stop", "wait", "never", "negative", "abort"}
QUESTION_CHARS = 160  # the spoken question stays short


class Answer(str, enum.Enum):
    YES = "yes"
    NO = "no"
    OTHER = "other"  # neither: cancel, and treat what was said as a new request


def runs_without_asking(tool: ToolInfo, allowed: Iterable[str]) -> bool:
    """Allowed by name (``name`` or ``server.name``), or annotated read-only by its server."""
    names = set(allowed)
    return tool.read_only or tool.name in names or f"{tool.server}.{tool.name}" in names


def answer(text: str) -> Answer:
    """What a spoken reply to "Shall I ...?" means. Short and clear, or it is not a yes."""
    words = re.findall(r"[a-z']+", text.lower())
    if not words:
        return Answer.NO  # silence
    if any(w in _NO for w in words):
        return Answer.NO
    phrase = " ".join(words)
    if len(words) <= 6 and (words[0] in _YES or any(phrase.startswith(p) for p in _YES_PHRASES)):
        return Answer.YES
    return Answer.OTHER


def question(tool: ToolInfo, arguments: Mapping[str, Any]) -> str:
    """"Shall I <what the tool does> <its arguments>?", from the tool's title (or name) and the values."""
    action = (tool.title or tool.name.replace("_", " ").replace("-", " ")).strip().rstrip(".")
    if action[:1].isupper() and not action[1:2].isupper():
        action = action[0].lower() + action[1:]
    values = [_spoken(v) for v in arguments.values()]
    text = " ".join([action, *[v for v in values if v]])
    if len(text) > QUESTION_CHARS - 11:
        text = text[: QUESTION_CHARS - 12].rstrip() + "…"
    return f"Shall I {text}?"


def _spoken(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, str)):
        return str(value).strip()
    if isinstance(value, list) and all(isinstance(v, (int, float, str)) for v in value):
        return ", ".join(str(v) for v in value[:5]) + (" and more" if len(value) > 5 else "")
    return ""
