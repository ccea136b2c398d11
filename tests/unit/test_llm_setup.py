"""The installer's side of the embedded LLM: which LLM ``doctor`` says a turn will use, ``models pull llm``
for one GGUF file, and the heartbeat of long setup steps. The external server is the real scripted
OpenAI-protocol server; the embedded engine's venv check is faked (tests/engines/test_llm.py runs it)."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from daemon.config.schema import LlmSettings, Settings
from daemon.llm import embedded
from installer import doctor, models, venvs
from installer.doctor import FAIL, OK, WARN, Context, GpuInfo
from installer.progress import ticking
from tests.support.openai_server import ThreadedServer
from tests.unit.test_llm_backend import _hub_cache, _llm_venv


def _ctx(tmp: Path, **llm) -> Context:
    settings = dataclasses.replace(Settings(), llm=LlmSettings(**llm))
    return Context(tmp / "none.toml", tmp, profile="cpu", settings=settings, gpu=GpuInfo(why="none"))


def _closed_url() -> str:
    from engines.protocol.transport import free_port

    return f"http://127.0.0.1:{free_port()}/v1"


@pytest.fixture
def healthy_llm_venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    model = _llm_venv(tmp_path)
    monkeypatch.setattr(venvs, "healthy", lambda dest, spec: dest == tmp_path / "venvs" / "llm")
    return model


def test_doctor_auto_with_a_server_names_it() -> None:
    server = ThreadedServer()
    url = server.server.url
    try:
        check = doctor.turn_llm(_ctx(Path("/nowhere"), base_url=url, model="test-model"))
    finally:
        server.stop()
    assert check.status == OK and check.detail == f"a turn uses the LLM server: {url} answers (no key) (backend auto)"


def test_doctor_auto_without_a_server_names_the_embedded_engine(tmp_path: Path, healthy_llm_venv: Path) -> None:
    url = _closed_url()
    check = doctor.turn_llm(_ctx(tmp_path, base_url=url))
    assert check.status == WARN, check  # the tiny default model: a warning with the way to a real one
    assert f"a turn uses the embedded engine, model SmolLM2-135M-Instruct ({healthy_llm_venv}; backend auto: " \
           f"no LLM answers at {url})" == check.detail
    assert "gets facts wrong" in check.fix and "embedded_model" in check.fix


def test_doctor_auto_without_either_says_both_fixes(tmp_path: Path) -> None:
    check = doctor.turn_llm(_ctx(tmp_path, base_url=_closed_url()))
    assert check.status == FAIL and "the embedded engine is not set up" in check.detail
    assert "`sisyphus setup --llm embedded`" in check.fix and "about a minute" in check.fix


def test_doctor_embedded_with_a_bad_model_fails_naming_the_key(tmp_path: Path, healthy_llm_venv: Path) -> None:
    check = doctor.turn_llm(_ctx(tmp_path, backend="embedded", embedded_model=str(tmp_path / "x.gguf")))
    assert check.status == FAIL and "[llm] embedded_model" in check.detail and "does not exist" in check.detail


def test_doctor_embedded_without_its_venv_says_to_set_it_up(tmp_path: Path) -> None:
    check = doctor.turn_llm(_ctx(tmp_path, backend="embedded"))
    assert check.status == FAIL and "sisyphus setup --llm embedded" in check.fix


def test_doctor_embedded_with_a_real_model_is_ok(tmp_path: Path, healthy_llm_venv: Path) -> None:
    model = tmp_path / "qwen2.5-3b-instruct-q4_k_m.gguf"
    model.write_bytes(b"GGUF")
    check = doctor.turn_llm(_ctx(tmp_path, backend="embedded", embedded_model=str(model)))
    assert check.status == OK and "model qwen2.5-3b-instruct-q4_k_m" in check.detail


def test_pull_llm_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    cache = tmp_path / "hub"
    assert models.pull_llm("", cache, LlmSettings()) == 0
    assert "ships inside its venv: nothing to download" in capsys.readouterr().out
    local = tmp_path / "m.gguf"
    local.write_bytes(b"GGUF")
    assert models.pull_llm(str(local), cache, LlmSettings()) == 0
    assert "is a local file; not downloading" in capsys.readouterr().out
    assert models.pull_llm("just-a-name", cache, LlmSettings()) == 2
    assert "neither a local GGUF file nor owner/repo/file.gguf" in capsys.readouterr().err
    found = _hub_cache(cache, "someone/Some-GGUF", "some.gguf")
    assert models.pull_llm("someone/Some-GGUF/some.gguf", cache, LlmSettings()) == 0
    out = capsys.readouterr().out
    assert str(found) in out and 'set embedded_model = "someone/Some-GGUF/some.gguf" under [llm]' in out
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    assert models.pull_llm("someone/Other-GGUF/other.gguf", cache, LlmSettings()) == 1
    err = capsys.readouterr().err
    assert "someone/Other-GGUF" in err and "HF_HUB_OFFLINE is set" in err and "[llm] embedded_model" in err


def test_a_long_quiet_step_says_it_is_still_working() -> None:
    said: list[str] = []
    with ticking(said.append, "engine venv llm", every_s=0.05):
        time.sleep(0.3)
    assert said and all(line.startswith("    ... engine venv llm: still working (") for line in said)
    count = len(said)
    time.sleep(0.15)
    assert len(said) == count  # stops with the step
