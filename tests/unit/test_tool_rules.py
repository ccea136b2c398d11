"""The pure parts of the tools (daemon/tools/): the settings entries, the safety rule, the spoken
question, what counts as a yes, secrets kept out of the log, the names the LLM sees, the tray."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from daemon.config.schema import ConfigError, from_table
from daemon.platform.tray.view import TrayView, reduce
from daemon.tools.catalog import catalog, openai_tools
from daemon.config.mcp_servers import MissingVariable, expand, parse_servers
from daemon.tools.confirm import Answer, answer, question, runs_without_asking
from daemon.tools.events import ToolCallEvent, ToolServerChanged
from daemon.tools.redact import cut, for_log, redact
from daemon.tools.session import ToolInfo

DELETE = ToolInfo("notes", "delete_note", "Delete a note.", {}, "")
READ = ToolInfo("notes", "read_note", "Read a note.", {}, "", read_only=True)


def test_read_only_or_allowed_by_name_runs_everything_else_asks():
    assert runs_without_asking(READ, set())
    assert not runs_without_asking(DELETE, set())
    assert runs_without_asking(DELETE, {"delete_note"}) and runs_without_asking(DELETE, {"notes.delete_note"})
    assert not runs_without_asking(DELETE, {"other.delete_note", "read_note"})


@pytest.mark.parametrize("text, expected", [
    ("Yes.", Answer.YES), ("yeah", Answer.YES), ("Okay, go ahead.", Answer.YES), ("Sure, do it!", Answer.YES),
    ("Go ahead", Answer.YES), ("yes please", Answer.YES),
    ("No.", Answer.NO), ("", Answer.NO), ("  ...", Answer.NO), ("Yes, no, wait.", Answer.NO), ("Don't.", Answer.NO),
    ("Cancel that", Answer.NO), ("yes but not that one", Answer.NO),
    ("What time is it?", Answer.OTHER), ("Do you know the weather?", Answer.OTHER),
    ("sure thing I mean what is the weather like in Paris today", Answer.OTHER),
])
def test_only_a_short_clear_yes_is_a_yes(text, expected):
    assert answer(text) is expected


def test_the_question_names_the_action_and_the_arguments():
    assert question(DELETE, {"name": "notes.txt"}) == "Shall I delete note notes.txt?"
    titled = ToolInfo("fs", "rm", title="Delete the file")
    assert question(titled, {"path": "a.txt", "force": True, "opts": {"x": 1}}) == "Shall I delete the file a.txt yes?"
    long = question(DELETE, {"name": "x" * 500})
    assert len(long) <= 160 and long.endswith("…?")


def test_server_entries_are_checked_with_each_problem_named():
    servers, problems = parse_servers([
        {"name": "notes", "command": ["notes-mcp", "--dir", "~/n"], "env": {"TOKEN": "${NOTES_TOKEN}"}},
        {"name": "home", "url": "https://ha.local/mcp", "headers": {"Authorization": "Bearer ${HA}"},
         "allow": ["light_on"]},
    ])
    assert problems == [] and [s.transport for s in servers] == ["stdio", "http"]
    assert servers[1].where == "https://ha.local/mcp" and servers[1].allow == ("light_on",)
    _, problems = parse_servers([{"name": "a", "command": ["x"], "url": "http://y"}, {"name": "b"},
                                 {"name": "c", "url": "ws://z"}, {"name": "d d", "command": ["x"]},
                                 {"name": "e", "command": ["x"], "colour": 1}, {"name": "ok", "command": ["x"]},
                                 {"name": "ok", "command": ["y"]},
                                 {"name": "f", "command": ["x"], "headers": {"A": "b"}}, "g"])
    assert len(problems) == 8, problems
    assert "'a'" in problems[0] and "not both" in problems[0]
    assert "http:// or https://" in problems[2] and "unknown key 'colour'" in problems[4] and "twice" in problems[5]
    assert "headers with url" in problems[6] and "expected a table" in problems[7]


def test_the_settings_file_reports_bad_entries_with_the_key():
    settings = from_table({"tools": {"mcp": [{"name": "n", "command": ["x"]}], "allow": ["a"]}}, Path("c.toml"))
    assert settings.tools.allow == ["a"] and settings.tools.max_rounds == 5
    with pytest.raises(ConfigError) as error:
        from_table({"tools": {"mcp": [{"name": "n"}], "timeout_s": 0}}, Path("c.toml"))
    assert "[tools] mcp" in str(error.value) and "[tools] timeout_s" in str(error.value)


def test_variables_come_from_the_environment_and_a_missing_one_is_named():
    assert expand({"A": "Bearer ${T}", "B": "plain"}, {"T": "xyz"}, "header") == {"A": "Bearer xyz", "B": "plain"}
    with pytest.raises(MissingVariable, match="header A needs the environment variable T"):
        expand({"A": "${T}"}, {}, "header")


def test_secrets_never_reach_the_log_and_long_values_are_cut():
    assert redact({"city": "Paris", "api_key": "k", "nested": {"password": "p", "auth": "Bearer abc"}}) == \
        {"city": "Paris", "api_key": "***", "nested": {"password": "***", "auth": "***"}}
    assert for_log("sent Bearer abc.def and sk-abcdefgh12345 done") == "sent Bearer *** and *** done"
    assert for_log({"token": "sk-x", "q": "v" * 400}).endswith("characters)")
    assert cut("abc", 10) == "abc" and cut("a" * 50, 10) == "a" * 10 + "\n[cut: the result had 50 characters]"


def test_the_llm_sees_valid_unique_names():
    tools = catalog([ToolInfo("a", "search", "find"), ToolInfo("b", "search"), ToolInfo("b", "read.file"),
                     ToolInfo("c", "x" * 80)])
    assert list(tools) == ["a_search", "b_search", "read_file", "x" * 64]
    assert tools["read_file"].name == "read.file"
    offered = openai_tools({"read_file": ToolInfo("b", "read.file", "", {"type": "object", "properties": {"p": {}}})})
    assert offered == [{"type": "function", "function": {"name": "read_file", "description": "read_file",
                                                          "parameters": {"type": "object", "properties": {"p": {}}}}}]


def test_the_tray_shows_a_running_tool_and_a_failed_server():
    view = reduce(TrayView(state="thinking"), ToolCallEvent("read_note", "started", 1))
    assert "(running read note)" in view.title
    assert reduce(view, ToolCallEvent("read_note", "done", 1)).tool == ""
    view = reduce(view, ToolServerChanged("notes", "failed", "it exited"))
    assert "Tools notes: failed" in view.title
    assert "Tools notes" not in reduce(view, ToolServerChanged("notes", "ready")).title


def test_no_mcp_servers_loads_no_mcp():
    code = ("import sys, daemon.app.parts, daemon.tools, daemon.tools.loop, daemon.tools.listing; "
            "print(any(m == 'mcp' or m.startswith(('mcp.', 'mcp_types')) for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
