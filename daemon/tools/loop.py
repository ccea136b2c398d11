"""A turn with tools: the LLM's reply, the tool calls it makes, their results, and the reply
that continues, for up to ``max_rounds`` calls in a row.

``ToolTurns.reply(llm, messages, turn)`` stands in for ``llm.stream(messages)``: it yields the
text to speak as it comes (before, between and after the calls), so the assistant speaks it
sentence by sentence as usual. A call runs through its server's MCP session with a timeout;
past ``cue_after_s`` it gets a cue (a ``slow`` event: an earcon, or a spoken "One moment.").
Calls that are neither allowed by name nor read-only are asked about ("Shall I ...?") and the
turn ends; the next turn's words decide (confirm.py). Cancelling the turn (barge-in) cancels a
running call, which the SDK passes on to the server; every nested generator is closed at once
(``aclosing``), so a barge-in while the cue is spoken cancels the call then, not whenever the
generator is collected. A failure (server down, tool error, timeout, malformed call, a tool the
model invented) is spoken in one short sentence, published as an ErrorEvent, and ends the turn.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, AsyncGenerator, Sequence

from daemon.config.schema import ToolsSettings
from daemon.events import ErrorEvent, EventBus, State, StateChanged
from daemon.llm.history import without_exchanges

from .calls import CallAssembler, ToolCall
from .catalog import catalog, openai_tools
from .confirm import Answer, answer, question, runs_without_asking
from .events import ToolCallEvent
from .redact import cut, for_log
from .servers import ToolServers
from .session import CallResult, ServerGone, ToolError, ToolInfo

_LOG = logging.getLogger(__name__)
DECLINED = "Okay, I won't."
CUE = "One moment. "


@dataclass
class _Work:
    """The messages a turn's requests are built on, and where this turn's tool exchange starts."""

    messages: list[dict]
    start: int


@dataclass
class Pending:
    """Calls waiting for a spoken yes, and the conversation to continue with."""

    turn: int
    messages: list[dict]
    calls: list[ToolCall]
    tools: dict[str, ToolInfo]


class _Stop(Exception):
    """End the turn with ``spoken`` said aloud; ``code``/``text`` go to the ErrorEvent."""

    def __init__(self, code: str, text: str, spoken: str) -> None:
        super().__init__(text)
        self.code, self.text, self.spoken = code, text, spoken


class ToolTurns:
    def __init__(self, servers: ToolServers, settings: ToolsSettings, bus: EventBus) -> None:
        self.servers, self.settings, self.bus = servers, settings, bus
        self.pending: Pending | None = None
        self._allowed = set().union(*(server.allowed for server in servers.servers.values()))
        self._stopping: set[asyncio.Future] = set()  # calls of cancelled turns, being stopped
        bus.subscribe(self._on_event)

    async def reply(self, llm: Any, messages: Sequence[dict], turn: int,
                    steps: list[dict] | None = None) -> AsyncGenerator[str, None]:
        """The spoken reply of ``turn``: text deltas, tool calls made on the way. ``steps`` is given the
        tool exchange of the turn (requests and results, in order) for the history to keep."""
        said: list[str] = []
        work = _Work(list(messages), len(messages))
        try:
            async with contextlib.aclosing(self._reply(llm, work, turn)) as texts:
                async for text in texts:
                    said.append(text)
                    yield text
        except _Stop as stop:
            _LOG.warning("turn %d: %s", turn, stop.text)
            self.bus.publish(ErrorEvent(stop.code, stop.text, turn=turn))
            yield _after("".join(said), stop.spoken)
        finally:
            if steps is not None:
                steps[:] = work.messages[work.start:]

    async def _reply(self, llm: Any, work: "_Work", turn: int) -> AsyncGenerator[str, None]:
        messages = work.messages
        pending, self.pending = self.pending, None
        if pending is not None:
            said = answer(_last_user(messages)) if pending.turn == turn - 1 else Answer.OTHER
            names = ", ".join(c.name for c in pending.calls)
            if said is Answer.YES:
                _LOG.info("turn %d: the user said yes to %s", turn, names)
                work.messages, work.start = pending.messages, len(pending.messages) - 1  # from the asked calls
                async with contextlib.aclosing(self._run_and_continue(llm, pending.messages, pending.calls,
                                                                      pending.tools, turn)) as texts:
                    async for text in texts:
                        yield text
                return
            self._declined(pending, turn)
            if said is Answer.NO:
                yield DECLINED
                return
        async with contextlib.aclosing(self._rounds(llm, messages, turn, catalog(self.servers.ready_tools()))) as texts:
            async for text in texts:
                yield text

    async def _rounds(self, llm: Any, messages: list[dict], turn: int, tools: dict[str, ToolInfo],
                      rounds: int = 0) -> AsyncGenerator[str, None]:
        offered = openai_tools(tools)
        while True:
            assembler, text = CallAssembler(), []
            # with no tool offered (its servers down), earlier turns' exchanges are left out: some servers
            # refuse tool messages in a request that offers no tools
            asked = messages if offered else without_exchanges(messages)
            async with contextlib.aclosing(llm.stream(asked, tools=offered or None, calls=assembler)) as deltas:
                async for delta in deltas:
                    text.append(delta)
                    yield delta
            calls = assembler.calls()
            if not calls:
                return
            rounds += 1
            if rounds > self.settings.max_rounds:
                raise _Stop("tool_rounds", f"the LLM asked for more than {self.settings.max_rounds} tool calls in "
                            "one turn; stopped there (raise [tools] max_rounds to allow more)",
                            "I stopped: that needed too many tool calls.")
            messages.append({"role": "assistant", "content": "".join(text),
                             "tool_calls": [call.message() for call in calls]})
            self._check(calls, tools)
            ask = [c for c in calls if not runs_without_asking(tools[c.name], self._allowed)]
            if ask:
                spoken = " ".join(question(tools[c.name], c.arguments) for c in ask[:2])
                self.pending = Pending(turn, messages, calls, tools)
                for call in ask:
                    _LOG.info("turn %d: asking before %s(%s)", turn, call.name, for_log(call.arguments))
                    self.bus.publish(ToolCallEvent(call.name, "asked", turn, spoken))
                yield _after("".join(text), spoken)
                return
            for call in calls:
                async with contextlib.aclosing(self._run(call, tools[call.name], messages, turn)) as cues:
                    async for cue in cues:
                        yield cue

    async def _run_and_continue(self, llm: Any, messages: list[dict], calls: list[ToolCall],
                                tools: dict[str, ToolInfo], turn: int) -> AsyncGenerator[str, None]:
        for call in calls:
            async with contextlib.aclosing(self._run(call, tools[call.name], messages, turn)) as cues:
                async for cue in cues:
                    yield cue
        async with contextlib.aclosing(self._rounds(llm, messages, turn, tools, rounds=1)) as texts:
            async for text in texts:
                yield text

    def _check(self, calls: list[ToolCall], tools: dict[str, ToolInfo]) -> None:
        for call in calls:
            if call.problem:
                raise _Stop("tool_bad_call", f"the LLM's call of {call.name or 'a tool'} was malformed: "
                            f"{call.problem} ({for_log(call.raw_arguments, 200)})",
                            "Sorry, the model made a malformed tool call.")
            if call.name not in tools:
                raise _Stop("tool_unknown", f"the LLM called {call.name!r}, a tool no server offers; offered: "
                            f"{', '.join(tools) or 'none'}", f"Sorry, there is no tool called {_words(call.name)}.")

    async def _run(self, call: ToolCall, tool: ToolInfo, messages: list[dict], turn: int) -> AsyncGenerator[str, None]:
        """Run one call; append its result for the LLM; yield the spoken cue if it is slow."""
        _LOG.info("turn %d: tool %s.%s(%s)", turn, tool.server, tool.name, for_log(call.arguments))
        self.bus.publish(ToolCallEvent(call.name, "started", turn))
        task = asyncio.ensure_future(self._call(tool, call.arguments))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.settings.cue_after_s)
            if not done:
                self.bus.publish(ToolCallEvent(call.name, "slow", turn))
                if self.settings.cue == "speech":
                    yield CUE
            # Wait without handing our cancellation to the call: a barge-in ends the wait at once, whatever
            # the SDK then does with the call's own cancellation (see _stop_call).
            await asyncio.wait({task})
            result = task.result()
        except _Stop as stop:
            self.bus.publish(ToolCallEvent(call.name, "failed", turn, stop.text))
            raise
        except (asyncio.CancelledError, GeneratorExit):  # barge-in: the SDK tells the server to stop
            _LOG.info("turn %d: tool %s cancelled", turn, call.name)
            self.bus.publish(ToolCallEvent(call.name, "cancelled", turn))
            raise
        finally:
            if not task.done():
                stopping = asyncio.ensure_future(_stop_call(task, call.name))
                self._stopping.add(stopping)
                stopping.add_done_callback(self._stopping.discard)
        _LOG.info("turn %d: tool %s answered: %s", turn, call.name, for_log(result.text))
        if result.is_error:
            why = _reason(result.text)
            self.bus.publish(ToolCallEvent(call.name, "failed", turn, why))
            raise _Stop("tool_failed", f"the tool {tool.server}.{tool.name} failed: {why}",
                        f"The {_words(call.name)} tool failed: {why}")
        self.bus.publish(ToolCallEvent(call.name, "done", turn))
        messages.append({"role": "tool", "tool_call_id": call.id,
                         "content": cut(result.text, self.settings.max_result_chars)})

    async def _call(self, tool: ToolInfo, arguments: dict) -> CallResult:
        name = _words(tool.name)
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                return await self.servers[tool.server].call(tool.name, arguments)
        except TimeoutError:
            raise _Stop("tool_timeout", f"the tool {tool.server}.{tool.name} did not answer within "
                        f"{self.settings.timeout_s:g} s; cancelled (raise [tools] timeout_s if it needs longer)",
                        f"The {name} tool did not answer in time.") from None
        except ServerGone as exc:
            raise _Stop("tool_server_down", exc.text, f"The {_words(tool.server)} tools are not available "
                        "right now.") from exc
        except ToolError as exc:
            raise _Stop(exc.code, exc.text, f"The {name} tool failed.") from exc

    def _declined(self, pending: Pending, turn: int) -> None:
        for call in pending.calls:
            _LOG.info("turn %d: %s not run: the answer was not a yes", turn, call.name)
            self.bus.publish(ToolCallEvent(call.name, "declined", turn))

    def _on_event(self, event: Any) -> None:
        """A turn after the question that ended without an answer (silence, a press too short) cancels."""
        pending = self.pending
        if (pending is not None and isinstance(event, StateChanged) and event.state == State.IDLE
                and event.turn > pending.turn):
            self.pending = None
            self._declined(pending, event.turn)


async def _stop_call(task: asyncio.Future, name: str, tries: int = 5, wait_s: float = 1.0) -> None:
    """Cancel the call of a turn that is gone (the SDK sends the server ``notifications/cancelled``).

    Cancelled again if it is still running after ``wait_s``: a cancellation that reaches the SDK at
    the wrong moment can be lost (seen under load: the call ran on to its end), and a call must not
    outlive its turn by long. After ``tries`` it is left to the call's own timeout, saying so.
    """
    for _ in range(tries):
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=wait_s)
        if done:
            break
    else:
        _LOG.warning("tool %s did not stop when cancelled %d times; it ends at [tools] timeout_s", name, tries)
        return
    if not task.cancelled() and task.exception() is not None:
        _LOG.debug("tool %s failed while being cancelled", name, exc_info=task.exception())


def _last_user(messages: Sequence[dict]) -> str:
    return next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")


def _after(said: str, sentence: str) -> str:
    """``sentence`` to follow what was already said, with a space between."""
    return sentence if not said or said[-1].isspace() else " " + sentence


def _words(name: str) -> str:
    return name.replace("_", " ").replace("-", " ")


def _reason(text: str) -> str:
    """A tool's error message, short enough to speak."""
    text = text.strip().split("\n")[0]
    if text.startswith("Error executing tool") and ":" in text:
        text = text.split(":", 1)[1].strip()
    return (text[:117] + "…" if len(text) > 120 else text) or "no reason given"
