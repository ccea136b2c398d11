"""Conversation history: turns, limits, idle reset, truncation markers."""
from __future__ import annotations

import pytest

from daemon.llm.history import MARKERS, Cut, History, whole_exchanges, without_exchanges

SYSTEM = {"role": "system", "content": "Be brief."}


def ask(history: History, question: str, answer: str, now: float = 0.0, **kwargs) -> None:
    history.add_user(question, now)
    history.add_assistant(answer, **kwargs)


def test_messages_are_system_turns_and_the_pending_question() -> None:
    history = History("Be brief.")
    ask(history, "Hi", "Hello!")
    history.add_user("Weather?", 1.0)
    assert history.messages() == [
        SYSTEM,
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Weather?"},
    ]


def test_keeps_only_the_last_turns() -> None:
    history = History("Be brief.", max_turns=2)
    for n in range(5):
        ask(history, f"q{n}", f"a{n}", now=float(n))
    assert [t.user for t in history.turns] == ["q3", "q4"]
    assert len(history.messages()) == 1 + 2 * 2


def test_zero_turns_sends_only_the_question() -> None:
    history = History("Be brief.", max_turns=0)
    ask(history, "q0", "a0")
    history.add_user("q1", 1.0)
    assert history.messages() == [SYSTEM, {"role": "user", "content": "q1"}]


def test_idle_timeout_forgets_the_conversation() -> None:
    history = History("Be brief.", idle_reset_s=300)
    ask(history, "q0", "a0", now=0.0)
    history.add_user("q1", 299.0)  # still within the window
    history.add_assistant("a1")
    assert len(history.turns) == 2
    assert history.expired(600.0)
    history.add_user("q2", 600.0)
    assert history.messages() == [SYSTEM, {"role": "user", "content": "q2"}]


def test_idle_is_measured_from_the_last_activity() -> None:
    history = History("Be brief.", idle_reset_s=10)
    ask(history, "q0", "a0", now=0.0)
    history.add_user("q1", 9.0)
    history.add_assistant("a1", now=15.0)  # a long reply moves the window
    assert not history.expired(24.0) and history.expired(25.5)


@pytest.mark.parametrize("idle", [0, None])
def test_idle_reset_can_be_disabled(idle: float | None) -> None:
    history = History("Be brief.", idle_reset_s=idle)
    ask(history, "q0", "a0", now=0.0)
    history.add_user("q1", 1e9)
    assert len(history.messages()) == 4


def test_explicit_reset_keeps_the_system_prompt() -> None:
    history = History("Be brief.")
    ask(history, "q0", "a0")
    history.add_user("q1", 1.0)
    history.reset()
    assert history.messages() == [SYSTEM] and history.pending is None


def test_interrupted_reply_is_kept_with_a_marker() -> None:
    history = History("Be brief.")
    ask(history, "Tell me a story", "Once upon a time, there ", truncated=True)
    reply = history.messages()[-1]
    assert reply == {"role": "assistant", "content": f"Once upon a time, there… {MARKERS[Cut.INTERRUPTED]}"}
    assert history.turns[0].cut is Cut.INTERRUPTED and history.turns[0].assistant == "Once upon a time, there "


def test_stream_cut_has_its_own_marker() -> None:
    history = History("Be brief.")
    ask(history, "Explain", "It works by", truncated=True, cut=Cut.STREAM_CUT)
    assert history.messages()[-1]["content"] == f"It works by… {MARKERS[Cut.STREAM_CUT]}"


def test_interrupted_before_any_text_is_only_the_marker() -> None:
    history = History("Be brief.")
    ask(history, "Hi", "", truncated=True)
    assert history.messages()[-1]["content"] == MARKERS[Cut.INTERRUPTED]


def test_an_unanswered_question_is_replaced_by_the_next() -> None:
    history = History("Be brief.")
    history.add_user("Weather?", 0.0)  # the request failed: no reply recorded
    history.add_user("Weather now?", 1.0)
    history.add_assistant("Sunny.")
    roles = [m["role"] for m in history.messages()]
    assert roles == ["system", "user", "assistant"]
    assert history.turns[0].user == "Weather now?"


def test_a_reply_after_reset_is_dropped() -> None:
    history = History("Be brief.")
    history.add_user("q", 0.0)
    history.reset()  # "new conversation" while the reply was streaming
    history.add_assistant("late reply")
    assert history.messages() == [SYSTEM]


def test_empty_system_prompt_sends_no_system_message() -> None:
    history = History("")
    history.add_user("q", 0.0)
    assert history.messages() == [{"role": "user", "content": "q"}]


def test_negative_max_turns_is_rejected_with_its_value() -> None:
    with pytest.raises(ValueError, match="max_turns must be >= 0, got -1"):
        History("x", max_turns=-1)


def call(id_: str) -> dict:
    return {"id": id_, "type": "function", "function": {"name": "weather", "arguments": "{}"}}


def result(id_: str, text: str = "sunny") -> dict:
    return {"role": "tool", "tool_call_id": id_, "content": text}


def test_a_tool_turn_keeps_its_whole_exchanges_between_question_and_reply() -> None:
    h = History("sys", max_turns=1)
    h.add_user("Weather?", 0.0)
    steps = [{"role": "assistant", "content": "Let me check. ", "tool_calls": [call("a"), call("b")]},
             result("b"), result("a"),  # results in any order
             {"role": "assistant", "content": "", "tool_calls": [call("c")]}, result("c", "rain later")]
    h.add_assistant("Let me check. Sunny, rain later.", now=1.0, steps=steps)
    h.add_user("And tomorrow?", 2.0)
    assert h.messages() == [
        {"role": "system", "content": "sys"}, {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "tool_calls": [call("a"), call("b")]}, result("b"), result("a"),
        {"role": "assistant", "content": "", "tool_calls": [call("c")]}, result("c", "rain later"),
        {"role": "assistant", "content": "Let me check. Sunny, rain later."},
        {"role": "user", "content": "And tomorrow?"}]
    h.add_assistant("Cloudy.", now=3.0)  # the exchange leaves with its turn
    assert [m["role"] for m in h.messages()] == ["system", "user", "assistant"]


@pytest.mark.parametrize("steps", [
    [{"role": "assistant", "content": "", "tool_calls": [call("a")]}],  # asked about, or cut before the result
    [{"role": "assistant", "content": "", "tool_calls": [call("a"), call("b")]}, result("a")],  # one result missing
    [{"role": "assistant", "content": "", "tool_calls": [call("a")]}, result("z")],  # a result of another call
    [result("a")],  # a result without its request
])
def test_a_half_exchange_is_not_kept(steps: list[dict]) -> None:
    assert whole_exchanges(steps) == ()
    kept = whole_exchanges([{"role": "assistant", "content": "x", "tool_calls": [call("k")]}, result("k")] + steps)
    assert kept == ({"role": "assistant", "content": "", "tool_calls": [call("k")]}, result("k"))


def test_without_exchanges_leaves_the_spoken_conversation() -> None:
    spoken = [{"role": "user", "content": "Weather?"}, {"role": "assistant", "content": "Sunny."}]
    exchange = [{"role": "assistant", "content": "", "tool_calls": [call("a")]}, result("a")]
    assert without_exchanges(spoken[:1] + exchange + spoken[1:]) == spoken
