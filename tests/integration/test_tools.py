"""Turns with MCP tools through the real daemon: a real MCP server written with the ``mcp`` SDK
(tests/support/mcp_server.py) over stdio and over Streamable HTTP, fake engines as subprocesses,
the local OpenAI-protocol server streaming ``tool_calls`` in OpenAI and Ollama style. What the
server did is in its marks folder; what was spoken is the daemon's ``speech`` events (the text
handed to the TTS engine) and the speaker file."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from tests.support.daemon import Daemon, fake_engine_command, write_tone_wav
from tests.support.openai_server import Script, ThreadedServer

pytest.importorskip("mcp")
REPO = Path(__file__).resolve().parents[2]
QUESTION = "What is the weather in Paris?"
TOKEN = "test-token-4821"


@pytest.fixture
def llm():
    server = ThreadedServer(default=Script(reply="I can help with that."))
    yield server.server
    server.stop()


def stdio_server(marks: Path, name: str = "desk", **extra) -> dict:
    return {"name": name, "command": [sys.executable, "-m", "tests.support.mcp_server", "--marks", str(marks)],
            "env": {"PYTHONPATH": str(REPO)}, **extra}


class ToolDaemon(Daemon):
    """The daemon with fake engines, a mic file, a speaker file and what the ASR "hears" in a file."""

    def __init__(self, tmp: Path, llm, servers: list[dict], env: dict | None = None, **tools) -> None:
        self.said = tmp / "said.txt"
        self.said.write_text(QUESTION)
        mic = write_tone_wav(tmp / "speech.wav", seconds=1.0)
        settings = {
            "llm": {"base_url": llm.url, "model": "test-model", "api_key": "sk-test-secret-123", "max_retries": 0,
                    "timeout_s": 10},
            "asr": {"command": fake_engine_command("asr", "--transcript-file", str(self.said)),
                    "ready_timeout_s": 20},
            "tts": {"command": fake_engine_command("tts"), "voice": "bass", "ready_timeout_s": 20},
            "audio": {"min_press_ms": 100, "earcons": False},
            "supervisor": {"backoff_initial_s": 0.1, "backoff_max_s": 0.5},
            "tools": {"mcp": servers, **tools},
        }
        super().__init__(tmp, settings, "--fake-engines", "--mic-file", str(mic), "--speaker-file",
                         str(tmp / "out.wav"), env=env)

    def start(self, ready=("asr", "tts"), timeout: float = 30) -> "ToolDaemon":
        super().start(ready, timeout)
        for name in self.status()["tools"]:
            self.wait_tools(name, "ready")
        return self

    def wait_tools(self, name: str, state: str, timeout: float = 60) -> None:
        self.wait(lambda: self.status()["tools"][name]["state"] == state, timeout, f"tool server {name} {state}")

    def say(self, text: str) -> tuple[int, int]:
        """One push-to-talk turn in which the user says ``text``; (first event, timings event)."""
        self.said.write_text(text)
        start = self.turn()
        return start, self.turn_end(start, timeout=40)

    def spoken(self, start: int, end: int | None = None) -> str:
        return "".join(e["text"] for e in self.events[start:end] if e["kind"] == "speech")

    def tool_events(self, start: int, end: int | None = None) -> list[tuple[str, str]]:
        return [(e["name"], e["state"]) for e in self.events[start:end] if e["kind"] == "tool"]

    def errors(self, start: int, end: int | None = None) -> list[str]:
        return [e["code"] for e in self.events[start:end] if e["kind"] == "error"]


def calls(marks: Path) -> list[dict]:
    path = marks / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def weather_call(style: str) -> list[Script]:
    return [Script(reply="Let me check the weather. ", tool_calls=[{"name": "weather", "arguments": {"city": "Paris"}}],
                   tool_style=style),
            Script(reply="Here is the weather: {tool} Anything else?")]


@pytest.mark.parametrize("style", ["openai", "ollama"])
def test_a_tool_runs_with_the_models_arguments_and_the_answer_is_spoken(tmp_path, llm, style):
    marks = tmp_path / "marks"
    llm.enqueue(*weather_call(style))
    with ToolDaemon(tmp_path, llm, [stdio_server(marks)]) as d:
        start, end = d.say(QUESTION)
        assert calls(marks) == [{"tool": "weather", "arguments": {"city": "Paris"}}]
        offered = [t["function"]["name"] for t in llm.chats[0].body["tools"]]
        assert {"weather", "delete_note", "slow_search"} <= set(offered)
        follow_up = llm.chats[1].body["messages"]
        assert follow_up[-2]["role"] == "assistant"
        assert follow_up[-2]["tool_calls"][0]["function"] == {"name": "weather", "arguments": '{"city": "Paris"}'}
        assert follow_up[-1] == {"role": "tool", "tool_call_id": follow_up[-2]["tool_calls"][0]["id"],
                                 "content": "It is 21 degrees and sunny in Paris."}
        spoken = d.spoken(start, end)
        assert spoken.startswith("Let me check the weather.")
        assert "Here is the weather: It is 21 degrees and sunny in Paris. Anything else?" in spoken
        assert d.tool_events(start, end) == [("weather", "started"), ("weather", "done")]
        assert d.errors(start, end) == [] and d.status()["state"] == "idle"
        assert [e["state"] for e in d.events[start:end] if e["kind"] == "state"][-1] == "idle"
        d.say("And tomorrow?")  # the follow-up's request carries the tool exchange, then the spoken reply
        call = follow_up[-2]["tool_calls"]
        assert llm.chats[2].body["messages"][-5:] == [
            {"role": "user", "content": QUESTION}, {"role": "assistant", "content": "", "tool_calls": call},
            follow_up[-1], {"role": "assistant", "content": spoken}, {"role": "user", "content": "And tomorrow?"}]
    with wave.open(str(tmp_path / "out.wav")) as wav:  # both parts of the reply were played
        assert wav.getnframes() / wav.getframerate() > len(spoken.strip()) * 0.02 - 0.3
    log = d.log.read_text()
    assert "sk-test-secret-123" not in log
    assert 'tool desk.weather({"city": "Paris"})' in log and "answered: It is 21 degrees" in log


@pytest.fixture
def http_mcp(tmp_path):
    """The test MCP server over Streamable HTTP, wanting a bearer token: (its [[tools.mcp]] entry, marks)."""
    marks = tmp_path / "marks"
    server = subprocess.Popen([sys.executable, "-m", "tests.support.mcp_server", "--marks", str(marks), "--http",
                               "--token", TOKEN], stdout=subprocess.PIPE, text=True, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        port = int(server.stdout.readline().split()[1])
        yield {"name": "desk", "url": f"http://127.0.0.1:{port}/mcp",
               "headers": {"Authorization": "Bearer ${DESK_TOKEN}"}}, marks
    finally:
        server.terminate()
        server.wait(10)


def test_a_streamable_http_server_with_a_header_from_the_environment(tmp_path, llm, http_mcp):
    entry, marks = http_mcp
    llm.enqueue(*weather_call("openai"))
    with ToolDaemon(tmp_path, llm, [entry], env={"DESK_TOKEN": TOKEN}) as d:
        start, end = d.say(QUESTION)
        assert calls(marks) == [{"tool": "weather", "arguments": {"city": "Paris"}}]
        assert "It is 21 degrees and sunny in Paris." in d.spoken(start, end)
        assert d.status()["tools"]["desk"]["transport"] == "http"
    assert TOKEN not in d.log.read_text()


def test_a_missing_environment_variable_fails_the_server_with_its_name(tmp_path, llm):
    entry = {"name": "web", "url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer ${NO_SUCH_VAR_25}"}}
    d = ToolDaemon(tmp_path, llm, [entry])
    Daemon.start(d)
    with d:
        d.wait_tools("web", "failed", 20)
        reason = d.status()["tools"]["web"]["reason"]
        assert "NO_SUCH_VAR_25" in reason and "header Authorization" in reason
        start, end = d.say(QUESTION)  # the turn still works, without tools
        assert d.spoken(start, end) == "I can help with that." and "tools" not in llm.chats[-1].body


def delete_call() -> Script:
    return Script(reply="", tool_calls=[{"name": "delete_note", "arguments": {"name": "shopping"}}])


def test_a_destructive_tool_asks_first_and_runs_on_yes(tmp_path, llm):
    marks = tmp_path / "marks"
    llm.enqueue(delete_call(), Script(reply="Done. {tool}"))
    with ToolDaemon(tmp_path, llm, [stdio_server(marks)]) as d:
        start, end = d.say("Delete my shopping note.")
        assert d.spoken(start, end) == "Shall I delete the note shopping?"
        assert calls(marks) == [] and d.tool_events(start, end) == [("delete_note", "asked")]
        assert d.status()["state"] == "idle"
        start, end = d.say("Yes, please.")
        assert (marks / "deleted-shopping").exists()
        assert calls(marks) == [{"tool": "delete_note", "arguments": {"name": "shopping"}}]
        assert d.spoken(start, end) == "Done. Deleted shopping."
        assert llm.chats[1].body["messages"][-1]["content"] == "Deleted shopping."
        history = llm.chats[1].body["messages"]
        assert history[-3] == {"role": "user", "content": "Delete my shopping note."}
        d.say("Thanks.")  # the question kept no half exchange; the yes turn keeps the whole one
        request, result = history[-2], history[-1]
        assert llm.chats[2].body["messages"][-7:] == [
            {"role": "user", "content": "Delete my shopping note."},
            {"role": "assistant", "content": "Shall I delete the note shopping?"},
            {"role": "user", "content": "Yes, please."},
            {"role": "assistant", "content": "", "tool_calls": request["tool_calls"]}, result,
            {"role": "assistant", "content": "Done. Deleted shopping."}, {"role": "user", "content": "Thanks."}]


@pytest.mark.parametrize("answer", ["No, leave it.", ""])
def test_a_destructive_tool_does_not_run_on_no_or_silence(tmp_path, llm, answer):
    marks = tmp_path / "marks"
    llm.enqueue(delete_call())
    with ToolDaemon(tmp_path, llm, [stdio_server(marks)]) as d:
        start, end = d.say("Delete my shopping note.")
        assert "Shall I delete the note shopping?" in d.spoken(start, end)
        start, end = d.say(answer)
        assert ("delete_note", "declined") in d.tool_events(start)
        assert d.spoken(start, end) == ("Okay, I won't." if answer else "")
        start, end = d.say("Yes.")  # a yes after the next turn is too late: a new request
        assert calls(marks) == [] and not (marks / "deleted-shopping").exists()
        assert len(llm.chats) == 2 and d.spoken(start, end) == "I can help with that."


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_barge_in_during_a_slow_tool_cancels_it(tmp_path, llm, transport, request):
    entry, marks = request.getfixturevalue("http_mcp") if transport == "http" else (
        stdio_server(tmp_path / "marks"), tmp_path / "marks")
    llm.enqueue(Script(reply="", tool_calls=[{"name": "slow_search", "arguments": {"query": "taxes", "seconds": 20}}]))
    with ToolDaemon(tmp_path, llm, [entry], env={"DESK_TOKEN": TOKEN}, cue="speech") as d:
        d.said.write_text("Find my tax files.")
        start = d.turn()
        slow = d.wait_event(lambda e: e["kind"] == "tool" and e["state"] == "slow", 30, start)
        d.wait_event(lambda e: e["kind"] == "speech" and e["text"].strip() == "One moment.", 10, start)
        d.said.write_text("Never mind.")
        barge = d.turn()  # press while the tool runs: barge-in
        d.wait_event(lambda e: e["kind"] == "tool" and e["state"] == "cancelled", 10, slow)
        d.wait(lambda: (marks / "cancelled-slow_search").exists(), 10, "the server to see the cancellation")
        d.turn_end(barge, timeout=40)
        assert d.spoken(barge) == "I can help with that."
        assert d.status()["state"] == "idle"
        assert [c["tool"] for c in calls(marks)] == ["slow_search"]


def test_a_crashed_server_is_restarted_and_its_tools_come_back(tmp_path, llm):
    marks = tmp_path / "marks"
    crash = Script(reply="", tool_calls=[{"name": "crash", "arguments": {}}])
    llm.enqueue(crash, crash, Script(reply="You have mail: {tool}"))
    with ToolDaemon(tmp_path, llm, [stdio_server(marks)]) as d:
        start, end = d.say("How many unread messages?")
        assert d.spoken(start, end) == "The desk tools are not available right now."
        assert d.errors(start, end) == ["tool_server_down"]
        d.wait_event(lambda e: e["kind"] == "tool_server" and e["state"] == "backoff", 20, start)
        d.wait_tools("desk", "ready")
        assert "crash" in [t["name"] for t in d.status()["tools"]["desk"]["tools"]]
        start, end = d.say("How many unread messages?")
        assert d.spoken(start, end) == "You have mail: You have 4 unread messages."
        assert d.status()["tools"]["desk"]["last_error"]


def test_a_server_killed_while_idle_is_found_by_the_health_check_and_restarted(tmp_path, llm):
    marks = tmp_path / "marks"
    with ToolDaemon(tmp_path, llm, [stdio_server(marks)], health_interval_s=0.5) as d:
        first = int((marks / "pid").read_text())
        start = len(d.events)
        os.kill(first, signal.SIGKILL)
        d.wait_event(lambda e: e["kind"] == "tool_server" and e["state"] == "backoff", 20, start)
        d.wait_tools("desk", "ready")
        assert int((marks / "pid").read_text()) != first
        assert len(d.status()["tools"]["desk"]["tools"]) == 6
        llm.enqueue(*weather_call("openai"))
        begin, end = d.say(QUESTION)
        assert "It is 21 degrees and sunny in Paris." in d.spoken(begin, end)


def test_tool_failures_are_spoken_briefly_and_end_the_turn(tmp_path, llm):
    marks = tmp_path / "marks"
    llm.enqueue(Script(reply="", tool_calls=[{"name": "hang", "arguments": {}}]),
                Script(reply="Checking. ", tool_calls=[{"name": "broken", "arguments": {}}]),
                Script(reply="", tool_calls=[{"name": "launch_rockets", "arguments": {"count": 3}}]),
                Script(reply="", tool_calls=[{"name": "weather", "arguments": '{"city": "Par'}]))
    with ToolDaemon(tmp_path, llm, [stdio_server(marks)], timeout_s=1.5) as d:
        expected = [("tool_timeout", "The hang tool did not answer in time."),
                    ("tool_failed", "Checking. The broken tool failed: the disk is full"),
                    ("tool_unknown", "Sorry, there is no tool called launch rockets."),
                    ("tool_bad_call", "Sorry, the model made a malformed tool call.")]
        for code, spoken in expected:
            start, end = d.say("Do something.")
            assert (d.errors(start, end), d.spoken(start, end)) == ([code], spoken)
            assert [e["state"] for e in d.events[start:end] if e["kind"] == "state"][-1] == "idle"
        d.wait(lambda: (marks / "cancelled-hang").exists(), 10, "the server to see the timed-out call cancelled")
        assert [c["tool"] for c in calls(marks)] == ["hang", "broken"]
        assert len(llm.chats) == 4  # no follow-up request after a failure


def test_tools_list_from_the_cli(tmp_path, llm):
    marks = tmp_path / "marks"
    with ToolDaemon(tmp_path, llm, [stdio_server(marks, allow=["slow_search"])], allow=["crash"]) as d:
        shown = subprocess.run([*d.command[:-1], "tools", "list"], env=d.env, capture_output=True, text=True,
                               timeout=30)
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        assert lines[0].startswith("desk: ready (stdio ") and lines[0].endswith(" - 6 tools")
        assert "  weather [runs at once] - Get the current weather in a city." in lines
        assert "  delete_note [asks first] - Delete one of the user's notes." in lines
    offline = subprocess.run([*d.command[:-1], "tools", "list"], env=d.env, capture_output=True, text=True,
                             timeout=60)
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout.startswith("desk: ok (stdio ") and "  delete_note [asks first]" in offline.stdout
