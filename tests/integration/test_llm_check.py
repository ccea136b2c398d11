"""The LLM check at start: the real OpenAI-protocol server up, down, refusing the key, without the
model, or silent; then the real daemon saying it once in its log while its engines get ready."""
from __future__ import annotations

import socket

import pytest

from daemon.config.schema import LlmSettings
from daemon.events import EventBus, NoticeEvent
from daemon.llm.client import LlmError
from daemon.llm.probe import advise, check_llm
from tests.integration.test_conversation import settings
from tests.support.daemon import Daemon
from tests.support.engines import free_port
from tests.support.openai_server import OpenAIServer
from tests.support.spoken import ThreadedServer


def notices(bus: EventBus) -> list[NoticeEvent]:
    seen: list[NoticeEvent] = []
    bus.subscribe(lambda e: seen.append(e) if isinstance(e, NoticeEvent) else None)
    return seen


async def test_a_working_endpoint_says_nothing():
    bus = EventBus()
    seen = notices(bus)
    async with OpenAIServer(api_key="sk-right") as server:
        assert await check_llm(LlmSettings(base_url=server.url, model="test-model", api_key="sk-right"), bus) is None
        assert [r.path for r in server.requests] == ["/v1/models"]
        assert server.requests[0].headers["authorization"] == "Bearer sk-right"
    assert seen == []


async def test_nothing_listening_names_what_to_start_or_set():
    bus = EventBus()
    seen = notices(bus)
    url = f"http://127.0.0.1:{free_port()}/v1"
    advice = await check_llm(LlmSettings(base_url=url, model="test-model"), bus)
    assert advice == (f"No LLM answers at {url}: start the server or set [llm] base_url / OPENAI_BASE_URL; or run "
                      "`sisyphus setup --llm embedded` for the embedded engine (used when none answers at start)")
    assert [(n.title, n.text) for n in seen] == [("The assistant has no LLM to answer", advice)]


async def test_a_silent_server_is_given_up_on_after_the_short_timeout():
    with socket.socket() as listening:  # accepts connections (the kernel's backlog), never answers
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        url = f"http://127.0.0.1:{listening.getsockname()[1]}/v1"
        advice = await check_llm(LlmSettings(base_url=url, model="m"), EventBus(), timeout_s=0.5)
    assert advice is not None and advice.startswith(f"No LLM answers at {url}")


async def test_a_refused_key_and_a_missing_model_say_what_to_set():
    async with OpenAIServer(api_key="sk-right", model="qwen3") as server:
        wrong_key = await check_llm(LlmSettings(base_url=server.url, model="qwen3", api_key="sk-wrong"), EventBus())
        assert wrong_key is not None and "rejected the API key: set LLM_API_KEY" in wrong_key
        assert "sk-wrong" not in wrong_key
        no_model = await check_llm(LlmSettings(base_url=server.url, model="llama3.2", api_key="sk-right"),
                                   EventBus())
        assert no_model == f"The LLM at {server.url} has no model 'llama3.2': set [llm] model to one it offers (qwen3)"


def test_ollama_s_port_gets_the_ollama_commands():
    llm = LlmSettings()  # the default: a local Ollama
    down = advise(llm, LlmError("llm_unreachable", "connection refused"))
    assert down.startswith("No LLM answers at http://127.0.0.1:11434/v1: start Ollama (`ollama serve`, then "
                           "`ollama pull llama3.2`) or set [llm] base_url / OPENAI_BASE_URL; or run "
                           "`sisyphus setup --llm embedded`")
    assert advise(llm, LlmError("llm_model_not_found", "HTTP 404")) is None  # no /models listing: it answers


@pytest.mark.parametrize("up", [True, False])
def test_the_daemon_checks_its_llm_once_at_start(tmp_path, up):
    server = ThreadedServer(api_key="sk-test-secret-123") if up else None
    url = server.server.url if server else f"http://127.0.0.1:{free_port()}/v1"
    try:
        with Daemon(tmp_path, settings(url), "--fake-engines", "--no-audio") as d:
            assert all(e["state"] == "ready" for e in d.status()["engines"].values())
            wanted = f"the LLM at {url} answers" if up else f"No LLM answers at {url}: start the server"
            d.wait(lambda: wanted in d.log.read_text(), 20, "the LLM check")
            log = d.log.read_text()
            assert log.count(wanted) == 1 and (up or log.count("No LLM answers") == 1), log
            assert ("WARNING" in log.split(wanted)[0].splitlines()[-1]) != up  # a problem is a warning
    finally:
        if server:
            server.stop()
