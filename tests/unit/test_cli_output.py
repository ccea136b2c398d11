"""Golden output of `sisyphus status`, `voices list`, `devices` and `models list`, for people and --json.

The inputs are replies as the daemon (and `models list`) give them, in tests/fixtures/cli/replies.json;
tests/integration/test_cli_output.py checks that a running daemon's replies have the same fields, so
these stay true to it. The expected output is tests/fixtures/cli/<case>.txt (people) and <case>.json
(--json). After a deliberate change of the output, regenerate them and read the diff:
    SISYPHUS_REGEN_GOLDEN=1 .venv/bin/python -m pytest -q tests/unit/test_cli_output.py
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from daemon.commands import output

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cli"
CASES = json.loads((FIXTURES / "replies.json").read_text())
REGEN = bool(os.environ.get("SISYPHUS_REGEN_GOLDEN"))


def render(command: str, reply: dict) -> str:
    if command == "models list":
        return "\n".join(output.models(reply))
    return output.human(command, reply)


def golden(path: Path, text: str) -> None:
    if REGEN:
        path.write_text(text + "\n")
    assert path.exists(), f"no golden file {path.name}: regenerate (see this module's docstring)"
    assert text + "\n" == path.read_text(), f"{path.name} differs: compare, then regenerate if intended"


@pytest.mark.parametrize("case", sorted(CASES))
def test_human_output_matches_its_golden_file(case: str) -> None:
    text = render(CASES[case]["command"], CASES[case]["reply"])
    golden(FIXTURES / f"{case}.txt", text)
    lines = text.splitlines()
    assert all(line == line.rstrip() for line in lines), "trailing blanks"
    assert not any(mark in text for mark in ("{'", "['", "None", "True")), "a Python repr leaked into the output"


@pytest.mark.parametrize("case", sorted(CASES))
def test_json_output_matches_its_golden_file_and_is_the_reply(case: str) -> None:
    reply = CASES[case]["reply"]
    text = output.as_json(reply)
    golden(FIXTURES / f"{case}.json", text)
    assert json.loads(text) == {k: v for k, v in reply.items() if k != "ok"}


def test_status_has_one_line_per_engine_with_its_state_and_reason() -> None:
    reply = CASES["status-troubled"]["reply"]
    lines = output.status(reply)
    rows = {line.split()[0]: line for line in lines if line.split()[:1] in (["asr"], ["tts"])}
    assert set(rows) == {"asr", "tts"}
    assert rows["tts"].split()[1] == "failed" and "run `sisyphus setup --profile gpu`" in rows["tts"]
    assert "tcp://gpu-box:10300" in rows["asr"] and "last error: connection refused" in rows["asr"]
    assert any(line.startswith("gpu memory") and "engines: asr 5.3 GiB, tts 5.3 GiB" in line for line in lines)
    assert lines[0].startswith("sisyphus 0.1.0") and "up 2 h 3 min" in lines[0]


def test_voices_mark_the_current_one_and_say_when_none_is_chosen() -> None:
    fake = output.voices(CASES["voices-fake"]["reply"])
    assert [line.split()[0] for line in fake[1:]] == ["alto", "*", "soprano"]
    cpu = output.voices(CASES["voices-cpu"]["reply"])
    assert "engine's default voice speaks" in cpu[-2] and "cannot clone voices" in cpu[-1]
    gone = output.voices({"voices": [{"name": "alto", "description": ""}], "current": "carol"})
    assert "'carol' is not offered" in gone[-1]


def test_columns_line_up_and_the_last_is_not_padded() -> None:
    lines = output.table([("a", "long value", "x"), ("longer", "v", "")], ("K", "V", "Z"))
    assert lines == ["K       V           Z", "a       long value  x", "longer  v"]
    assert output.table([]) == []


def test_other_replies_print_their_notice_or_fields() -> None:
    assert output.human("restart-engines", {"ok": True, "restarted": ["asr", "tts"], "notice": "stopped"}) == "stopped"
    assert output.human("ptt", {"ok": True, "state": "listening"}) == "state  listening"
    assert output.human("quit", {"ok": True}) == ""
