"""The conversation so far, as the chat messages of the next request. Pure: no clock.

A turn is a user message and the assistant's reply. The history keeps the system
prompt, the last ``max_turns`` turns and the turn in progress, and forgets the
conversation after ``idle_reset_s`` without a new question (timestamps are passed
in, so tests need no sleeps).

A reply that did not end normally is kept with a marker, because the model must
know the user did not hear it all, or it would refer back to things never said:

* ``Cut.INTERRUPTED`` (barge-in): the text is what was generated (or spoken) up to
  the interruption, followed by `` [interrupted by the user]``;
* ``Cut.STREAM_CUT`` (the LLM stream broke mid-reply): `` [reply cut off]``.

The marker is a bracketed note on the assistant message rather than an extra
system message: every OpenAI-compatible server and chat template accepts it, and
it sits exactly where the reply stopped. A question that got no reply at all (the
request failed) is dropped when the next one comes, so the roles keep alternating
(strict chat templates reject two user messages in a row) and a question the user
asks again is not sent twice.

A turn in which the LLM called tools keeps the exchange (``steps``: each assistant message
with ``tool_calls`` followed by the tool results) between the question and the reply, so a
follow-up question can build on what the tools said. Only whole exchanges are kept: a call
whose result never came (a barge-in, a failed tool, a call asked about and not yet answered)
is dropped with its request, since servers refuse a ``tool_calls`` message without results.
The text spoken before a call is part of the reply, so a kept request carries no text.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Sequence


class Cut(str, enum.Enum):
    """Why a reply did not end normally."""

    INTERRUPTED = "interrupted"
    STREAM_CUT = "stream_cut"
    TOO_LONG = "too_long"


MARKERS = {Cut.INTERRUPTED: "[interrupted by the user]", Cut.STREAM_CUT: "[reply cut off]",
           Cut.TOO_LONG: "[reply cut: too long]"}


@dataclass(frozen=True)
class Turn:
    user: str
    assistant: str
    cut: Cut | None = None
    steps: tuple[dict[str, Any], ...] = ()  # whole tool exchanges (see the module's doc)

    def reply_message(self) -> str:
        """The assistant message as the model will see it, marker included."""
        if self.cut is None:
            return self.assistant
        text = self.assistant.rstrip()
        return f"{text}… {MARKERS[self.cut]}" if text else MARKERS[self.cut]


class History:
    """System prompt + the last turns; one instance for the daemon's lifetime."""

    def __init__(self, system_prompt: str, max_turns: int = 10, idle_reset_s: float | None = 300.0) -> None:
        """``idle_reset_s`` of 0 or None: never forget on idleness."""
        if max_turns < 0:
            raise ValueError(f"max_turns must be >= 0, got {max_turns}")
        self.system_prompt = system_prompt
        self.max_turns = max_turns
        self.idle_reset_s = idle_reset_s
        self._turns: list[Turn] = []
        self._pending: str | None = None  # the question being answered
        self._last_activity: float | None = None

    @property
    def turns(self) -> tuple[Turn, ...]:
        return tuple(self._turns)

    @property
    def pending(self) -> str | None:
        return self._pending

    def reset(self) -> None:
        """Forget the conversation (the system prompt stays)."""
        self._turns.clear()
        self._pending = None

    def expired(self, now: float) -> bool:
        """True when the conversation has been idle longer than ``idle_reset_s``."""
        if not self.idle_reset_s or self._last_activity is None:
            return False
        return now - self._last_activity > self.idle_reset_s

    def add_user(self, text: str, now: float) -> None:
        """A new question; forgets everything first when the conversation went idle."""
        if self.expired(now):
            self.reset()
        self._pending = text  # an unanswered earlier question is replaced (see above)
        self._last_activity = now

    def add_assistant(self, text: str, truncated: bool = False, now: float | None = None,
                      cut: Cut = Cut.INTERRUPTED, steps: Sequence[dict[str, Any]] = ()) -> None:
        """The reply to the pending question; ``truncated`` marks it with ``cut``'s marker; ``steps``:
        the tool exchange on the way (whole exchanges are kept, see the module's doc)."""
        if self._pending is None:
            return  # reset (or never asked) while the reply was on its way: nothing to pair it with
        self._turns.append(Turn(self._pending, text, cut if truncated else None, whole_exchanges(steps)))
        self._pending = None
        del self._turns[: max(0, len(self._turns) - self.max_turns)]
        if now is not None:
            self._last_activity = now

    def messages(self) -> list[dict[str, Any]]:
        """The chat messages for the next request: system, past turns, the pending question."""
        out: list[dict[str, Any]] = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        for turn in self._turns:
            out.append({"role": "user", "content": turn.user})
            out.extend(dict(step) for step in turn.steps)
            out.append({"role": "assistant", "content": turn.reply_message()})
        if self._pending is not None:
            out.append({"role": "user", "content": self._pending})
        return out


def whole_exchanges(steps: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The assistant ``tool_calls`` messages whose every call has its result, each followed by those
    results; the request's own text left out (it is spoken, so it is in the reply)."""
    kept: list[dict[str, Any]] = []
    for i, step in enumerate(steps):
        if step.get("role") != "assistant" or not step.get("tool_calls"):
            continue
        ids = {str(call.get("id")) for call in step["tool_calls"]}
        results = []
        for later in steps[i + 1:]:
            if later.get("role") != "tool":
                break
            if str(later.get("tool_call_id")) in ids:
                results.append(later)
        if sorted(str(r.get("tool_call_id")) for r in results) == sorted(ids):
            kept.append({"role": "assistant", "content": "", "tool_calls": step["tool_calls"]})
            kept.extend(results)
    return tuple(kept)


def without_exchanges(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` without tool exchanges (``tool_calls`` requests and tool results)."""
    return [m for m in messages if m.get("role") != "tool" and not m.get("tool_calls")]
