"""Tool calls assembled from a streamed chat completion. Pure: fed the deltas, no I/O.

OpenAI style: each call arrives in pieces keyed by ``index``: ``id``, ``type`` and
``function.name`` on the first piece, ``function.arguments`` as string fragments to join.
Ollama style: each call arrives whole in one chunk. Seen in the wild and handled here:
``id``/``name`` repeated on every piece (joining them would give ``call_xcall_x``), ``index``
missing (a new ``id`` starts a new call), ``index`` starting at 1, ``id`` missing (one is
made up), arguments sent as a JSON object instead of a string (Ollama's native form).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict = field(default_factory=dict)
    raw_arguments: str = ""
    problem: str = ""  # why the call cannot be made (bad JSON, no name); '' when it can

    def message(self) -> dict:
        """The call as it goes back to the LLM in the assistant message's ``tool_calls``."""
        raw = self.raw_arguments if not self.problem else "{}"
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": raw or "{}"}}


@dataclass
class _Partial:
    id: str = ""
    name: str = ""
    arguments: str = ""


class CallAssembler:
    """Feed it ``delta.tool_calls`` of every chunk; ``calls()`` at the end of the stream."""

    def __init__(self) -> None:
        self._parts: dict[int, _Partial] = {}
        self._last: int | None = None
        self._moved: dict[int, int] = {}  # a server's index -> our slot, when it reused an index

    @property
    def started(self) -> bool:
        return bool(self._parts)

    def feed(self, deltas: Iterable[Any] | None) -> None:
        for delta in deltas or ():
            self._feed_one(delta)

    def _feed_one(self, delta: Any) -> None:
        index, call_id = _get(delta, "index"), _get(delta, "id") or ""
        function = _get(delta, "function")
        name, arguments = _get(function, "name") or "", _get(function, "arguments")
        if not isinstance(index, int):
            same = self._last is not None and (not call_id or self._parts[self._last].id in ("", call_id))
            index = self._last if same and self._last is not None else max(self._parts, default=-1) + 1
        else:
            index = self._moved.get(index, index)
            if call_id and self._parts.get(index, _Partial()).id not in ("", call_id):  # a new call, same index
                self._moved[index] = max(self._parts) + 1
                index = self._moved[index]
        part = self._parts.setdefault(index, _Partial())
        self._last = index
        if call_id and not part.id:
            part.id = call_id  # a repeated id never joins
        if name and part.name != name:
            part.name += name  # a name streamed in pieces joins; a repeated one is ignored
        if isinstance(arguments, (dict, list)):
            part.arguments = json.dumps(arguments)
        elif isinstance(arguments, str):
            part.arguments += arguments

    def calls(self) -> list[ToolCall]:
        """The assembled calls in index order, each parsed or carrying its ``problem``."""
        return [_finish(part, n) for n, (_, part) in enumerate(sorted(self._parts.items()))]


def _finish(part: _Partial, n: int) -> ToolCall:
    call_id = part.id or f"call_{n}"
    if not part.name:
        return ToolCall(call_id, "", {}, part.arguments, "the call names no tool")
    raw = part.arguments.strip()
    if not raw:
        return ToolCall(call_id, part.name, {}, "{}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return ToolCall(call_id, part.name, {}, raw, f"its arguments are not valid JSON ({exc.msg})")
    if not isinstance(value, dict):
        return ToolCall(call_id, part.name, {}, raw, "its arguments are not a JSON object")
    return ToolCall(call_id, part.name, value, raw)


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
