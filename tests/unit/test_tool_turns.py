"""The turn loop with tools (daemon/tools/loop.py) on fakes that speak its interfaces: rounds, the
round limit, the cue, the pending question and its expiry. The real thing runs in
tests/integration/test_tools.py."""
from __future__ import annotations

import asyncio

from daemon.config.schema import ToolsSettings
from daemon.events import EventBus, State, StateChanged
from daemon.tools.loop import CUE, ToolTurns
from daemon.tools.session import CallResult, ToolInfo


class FakeLlm:
    """Each request answers with the next (text, calls) of the script."""

    def __init__(self, *script: tuple[str, list]) -> None:
        self.script, self.requests = list(script), []

    async def stream(self, messages, tools=None, calls=None):
        self.requests.append(([dict(m) for m in messages], tools))
        text, tool_calls = self.script.pop(0)
        if text:
            yield text
        calls.feed([{"index": n, "id": f"c{n}", "function": {"name": name, "arguments": args}}
                    for n, (name, args) in enumerate(tool_calls)])


class FakeServer:
    def __init__(self, delay: float = 0.0) -> None:
        self.allowed: set = set()
        self.delay, self.called = delay, []

    async def call(self, name, arguments):
        self.called.append((name, arguments))
        await asyncio.sleep(self.delay)
        return CallResult(f"{name} ok")


class FakeServers:
    def __init__(self, server: FakeServer) -> None:
        self.servers = {"s": server}
        self.tools = [ToolInfo("s", "look", read_only=True), ToolInfo("s", "erase")]

    def ready_tools(self):
        return self.tools

    def __getitem__(self, name):
        return self.servers[name]


def run(turns: ToolTurns, llm: FakeLlm, turn: int, said: str = "hi") -> str:
    async def collect() -> str:
        return "".join([d async for d in turns.reply(llm, [{"role": "user", "content": said}], turn)])
    return asyncio.run(collect())


def make(delay: float = 0.0, **settings) -> tuple[ToolTurns, FakeServer, list]:
    bus, events = EventBus(), []
    bus.subscribe(events.append)
    server = FakeServer(delay)
    return ToolTurns(FakeServers(server), ToolsSettings(**settings), bus), server, events  # type: ignore[arg-type]


def test_rounds_continue_until_the_model_answers_and_stop_at_the_limit():
    turns, server, events = make(max_rounds=2)
    llm = FakeLlm(("A. ", [("look", "{}")]), ("B. ", [("look", '{"x": 1}')]), ("Done.", []))
    assert run(turns, llm, 1) == "A. B. Done."
    assert server.called == [("look", {}), ("look", {"x": 1})]
    assert [m["role"] for m in llm.requests[2][0]] == ["user", "assistant", "tool", "assistant", "tool"]
    llm = FakeLlm(*[("", [("look", "{}")])] * 3)
    assert run(turns, llm, 2) == "I stopped: that needed too many tool calls."
    assert [e.code for e in events if e.kind == "error"] == ["tool_rounds"]


def test_a_slow_call_gets_the_spoken_cue():
    turns, _, events = make(delay=0.3, cue_after_s=0.05, cue="speech")
    assert run(turns, FakeLlm(("", [("look", "{}")]), ("Found it.", [])), 1) == CUE + "Found it."
    assert [e.state for e in events if e.kind == "tool"] == ["started", "slow", "done"]



def test_closing_the_reply_while_the_cue_is_spoken_cancels_the_call_at_once():
    """Barge-in while the consumer is speaking the cue: the reply is closed (as the assistant's
    aclosing does) while every generator inside it sits at a yield; the call is cancelled then,
    and said so, not whenever the garbage collector finalizes the generators."""
    turns, server, events = make(delay=30, cue_after_s=0.05, cue="speech")
    cancelled = []

    async def call(name, arguments):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
    server.call = call  # type: ignore[method-assign]

    async def barge_in() -> list:
        reply = turns.reply(FakeLlm(("", [("look", "{}")]), ("never", [])), [{"role": "user", "content": "x"}], 1)
        assert await reply.__anext__() == CUE  # the consumer now speaks the cue: nothing inside runs
        await reply.aclose()
        states = [e.state for e in events if e.kind == "tool"]  # said at once
        for _ in range(100):  # the call itself is stopped beside the turn, at once too
            if cancelled:
                break
            await asyncio.sleep(0.01)
        return states

    states = asyncio.run(barge_in())
    assert states == ["started", "slow", "cancelled"] and cancelled == ["look"]


def test_a_call_that_lets_a_cancellation_pass_is_said_cancelled_at_once_and_cancelled_again():
    """Seen under load with the MCP SDK: the turn's cancellation reached the call at a moment it was
    lost, and the call ran on to its end while the turn waited on it, saying nothing. The turn no
    longer hands its cancellation through the call: it ends at once, says so, and the call is
    cancelled again until it stops."""
    turns, server, events = make(cue_after_s=0.05, cue="none")
    seen: list[str] = []

    async def call(name, arguments):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("first cancel lost")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("stopped")
            raise
    server.call = call  # type: ignore[method-assign]

    async def barge_in() -> tuple[float, list]:
        async def consume() -> None:
            async for _ in turns.reply(FakeLlm(("", [("look", "{}")]), ("never", [])),
                                       [{"role": "user", "content": "x"}], 1):
                pass
        producer = asyncio.create_task(consume())
        while not any(e.kind == "tool" and e.state == "slow" for e in events):
            await asyncio.sleep(0.01)
        began = asyncio.get_running_loop().time()
        producer.cancel()  # as the assistant cancels its reply producer on a barge-in
        try:
            await producer
        except asyncio.CancelledError:
            pass
        ended = asyncio.get_running_loop().time() - began
        states = [e.state for e in events if e.kind == "tool"]
        for _ in range(300):
            if "stopped" in seen:
                break
            await asyncio.sleep(0.01)
        return ended, states

    ended, states = asyncio.run(barge_in())
    assert states == ["started", "slow", "cancelled"] and ended < 10, (ended, states)  # the old code: 30 s
    assert seen == ["first cancel lost", "stopped"]

def test_the_question_waits_one_turn_only():
    turns, server, events = make()
    llm = FakeLlm(("", [("erase", '{"what": "all"}')]), ("Erased.", []))
    assert run(turns, llm, 1) == "Shall I erase all?" and server.called == []
    turns.bus.publish(StateChanged(State.IDLE, turn=1))  # the question's own turn ending keeps it
    assert turns.pending is not None
    turns.bus.publish(StateChanged(State.IDLE, turn=2))  # the next turn ended without an answer
    assert turns.pending is None and [e.state for e in events if e.kind == "tool"] == ["asked", "declined"]
    assert run(turns, FakeLlm(("Hello.", [])), 3, "yes") == "Hello." and server.called == []


def test_something_else_than_yes_or_no_cancels_and_is_answered():
    turns, server, _ = make()
    run(turns, FakeLlm(("", [("erase", "{}")])), 1)
    llm = FakeLlm(("It is noon.", []))
    assert run(turns, llm, 2, "What time is it?") == "It is noon." and server.called == []
    assert llm.requests[0][0][-1] == {"role": "user", "content": "What time is it?"}


def test_yes_runs_the_call_and_continues_from_the_question():
    turns, server, _ = make()
    run(turns, FakeLlm(("", [("erase", "{}")])), 1)
    llm = FakeLlm(("Erased.", []))
    assert run(turns, llm, 2, "Yes, go ahead.") == "Erased." and server.called == [("erase", {})]
    assert [m["role"] for m in llm.requests[0][0]] == ["user", "assistant", "tool"]


def test_a_turn_offered_no_tools_sends_no_earlier_exchange():
    turns, server, _ = make()
    history = [{"role": "user", "content": "Weather?"},
               {"role": "assistant", "content": "", "tool_calls": [{"id": "c0", "type": "function",
                                                                    "function": {"name": "look", "arguments": "{}"}}]},
               {"role": "tool", "tool_call_id": "c0", "content": "sunny"},
               {"role": "assistant", "content": "Sunny."}, {"role": "user", "content": "Thanks."}]
    llm = FakeLlm(("You're welcome.", []))
    turns.servers.tools = []  # every server down

    async def collect() -> str:
        return "".join([d async for d in turns.reply(llm, history, 2)])
    assert asyncio.run(collect()) == "You're welcome."
    assert llm.requests[0] == ([history[0], history[3], history[4]], None)
    llm = FakeLlm(("Again sunny.", []))  # collect() asks this one
    turns.servers.tools = [ToolInfo("s", "look", read_only=True)]  # back: the exchange goes with the tools
    assert asyncio.run(collect()) == "Again sunny." and llm.requests[0][0] == history
