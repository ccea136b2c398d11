"""LlmClient against a real local HTTP server speaking the OpenAI streaming protocol."""
from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import AsyncIterator

import pytest

from daemon.backoff import Backoff
from daemon.llm.client import NO_KEY, LlmClient, LlmError
from daemon.llm.sentences import SentenceChunker
from tests.support.openai_server import OpenAIServer, Script

REPO = Path(__file__).resolve().parents[2]
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


@pytest.fixture
async def server() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer() as srv:
        yield srv


class Sleeps:
    """Records backoff delays instead of sleeping through them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_client(url: str, **kwargs) -> LlmClient:
    options = {"api_key": "sk-test", "model": "test-model", "timeout_s": 5.0, "max_retries": 2,
               "backoff": Backoff(initial_s=0.01, max_s=0.05), **kwargs}
    return LlmClient(url, **options)


async def collect(client: LlmClient, messages=MESSAGES) -> list[str]:
    return [delta async for delta in client.stream(messages)]


async def collect_until_error(client: LlmClient) -> tuple[list[str], LlmError]:
    got: list[str] = []
    with pytest.raises(LlmError) as caught:
        async for delta in client.stream(MESSAGES):
            got.append(delta)
    return got, caught.value


async def test_streams_content_deltas_and_sends_the_request(server: OpenAIServer) -> None:
    server.enqueue(Script(reply="Hello there friend."))
    client = make_client(server.url)
    assert await collect(client) == ["Hello ", "there ", "friend."]
    body = server.requests[0].body
    assert body["model"] == "test-model" and body["stream"] is True
    assert body["messages"] == MESSAGES
    assert server.requests[0].headers["authorization"] == "Bearer sk-test"
    await client.aclose()


async def test_ignores_role_reasoning_and_usage_chunks(server: OpenAIServer) -> None:
    server.enqueue(Script(reply="Two words", reasoning="let me think", usage=True))
    assert await collect(make_client(server.url)) == ["Two ", "words"]


async def test_tolerates_no_role_chunk_and_no_finish_reason(server: OpenAIServer) -> None:
    server.enqueue(Script(reply="Plain reply", role_chunk=False, finish_reason=None))
    assert await collect(make_client(server.url)) == ["Plain ", "reply"]


async def test_think_blocks_in_content_are_not_yielded(server: OpenAIServer) -> None:
    server.enqueue(Script(deltas=["<thi", "nk>let me see", "</think>", "\n\nIt is ", "four."]))
    assert "".join(await collect(make_client(server.url))) == "\n\nIt is four."
    server.enqueue(Script(deltas=["<think>x</think>Kept"]))
    assert await collect(make_client(server.url, strip_think=False)) == ["<think>x</think>Kept"]


async def test_first_chunk_is_ready_long_before_the_reply_ends(server: OpenAIServer) -> None:
    reply = "The weather today is sunny, with a light breeze. It will rain tomorrow, sadly."
    server.enqueue(Script(reply=reply, delta_delay_s=0.02))
    chunker = SentenceChunker()
    first_at: int | None = None
    async for delta in make_client(server.url).stream(MESSAGES):
        if chunker.feed(delta) and first_at is None:
            first_at = server.requests[0].deltas_sent
    chunker.flush()
    # "The weather today is sunny, " is the 5th of 14 deltas (one more if this machine is slow)
    assert first_at is not None and 5 <= first_at <= 6


async def test_extra_params_reach_the_request_body(server: OpenAIServer) -> None:
    client = make_client(server.url, extra_params={"reasoning_effort": "low", "temperature": 0.2})
    await collect(client)
    body = server.requests[0].body
    assert body["reasoning_effort"] == "low" and body["temperature"] == 0.2


async def test_missing_key_sends_a_placeholder(server: OpenAIServer) -> None:
    assert await collect(make_client(server.url, api_key=None)) == ["Hello! ", "How ", "can ", "I ", "help?"]
    assert server.requests[0].headers["authorization"] == f"Bearer {NO_KEY}"


async def test_wrong_key_is_llm_auth_and_the_key_is_not_repeated() -> None:
    async with OpenAIServer(api_key="right-key") as srv:
        _, error = await collect_until_error(make_client(srv.url, api_key="sk-wrong-secret"))
    assert error.code == "llm_auth" and "LLM_API_KEY" in error.text
    assert "sk-wrong-secret" not in error.text and "sk-wrong-secret" not in repr(error)
    assert len(srv.requests) == 1  # not retried


@pytest.mark.parametrize(("status", "code", "retried"), [
    (401, "llm_auth", False),
    (403, "llm_auth", False),
    (404, "llm_model_not_found", False),
    (400, "llm_bad_request", False),
    (429, "llm_rate_limited", True),
    (500, "llm_server_error", True),
    (503, "llm_server_error", True),
])
async def test_http_errors_map_to_codes(server: OpenAIServer, status: int, code: str, retried: bool) -> None:
    server.default = Script(status=status, error_message=f"scripted {status}")
    sleeps = Sleeps()
    _, error = await collect_until_error(make_client(server.url, sleep=sleeps))
    assert error.code == code
    assert f"scripted {status}" in error.text  # the server's own words are passed on
    assert len(server.requests) == (3 if retried else 1)
    assert len(sleeps.delays) == (2 if retried else 0)


async def test_model_not_found_names_the_model_and_url(server: OpenAIServer) -> None:
    server.enqueue(Script(status=404, error_message="model 'test-model' not found"))
    _, error = await collect_until_error(make_client(server.url))
    assert "'test-model'" in error.text and server.url in error.text


async def test_retries_before_the_first_token_then_succeeds(server: OpenAIServer) -> None:
    server.enqueue(Script(status=500), Script(disconnect_after=0), Script(reply="Finally here"))
    sleeps = Sleeps()
    client = make_client(server.url, sleep=sleeps, rand=lambda: 0.5)
    assert await collect(client) == ["Finally ", "here"]
    assert len(server.requests) == 3
    assert sleeps.delays == pytest.approx([0.01, 0.02])


async def test_no_retry_after_the_first_token(server: OpenAIServer) -> None:
    server.enqueue(Script(reply="one two three four", disconnect_after=2))
    got, error = await collect_until_error(make_client(server.url))
    assert error.code == "llm_stream_cut"
    assert got == ["one ", "two "]  # the caller keeps the text so far
    assert len(server.requests) == 1


async def test_mid_stream_stall_is_a_stream_cut(server: OpenAIServer) -> None:
    server.enqueue(Script(reply="one two three", hang_after=1))
    got, error = await collect_until_error(make_client(server.url, timeout_s=0.3))
    assert (got, error.code) == (["one "], "llm_stream_cut")
    record = await server.wait_ended(0)
    assert record.client_disconnected


async def test_no_answer_is_llm_timeout_after_retries(server: OpenAIServer) -> None:
    server.default = Script(hang_before_headers=True)
    _, error = await collect_until_error(make_client(server.url, timeout_s=0.2, max_retries=1))
    assert error.code == "llm_timeout" and "timeout_s" in error.text
    assert len(server.requests) == 2


async def test_connection_refused_is_llm_unreachable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    sleeps = Sleeps()
    _, error = await collect_until_error(make_client(url, sleep=sleeps))
    assert error.code == "llm_unreachable" and url in error.text and "base_url" in error.text
    assert len(sleeps.delays) == 2


async def test_garbage_stream_is_llm_bad_response(server: OpenAIServer) -> None:
    server.enqueue(Script(raw_events=["this is not json"]))
    _, error = await collect_until_error(make_client(server.url))
    assert error.code == "llm_bad_response" and len(server.requests) == 1


async def test_in_stream_error_event_is_llm_server_error(server: OpenAIServer) -> None:
    server.default = Script(raw_events=[json.dumps({"error": {"message": "backend overloaded"}})])
    _, error = await collect_until_error(make_client(server.url, max_retries=0))
    assert error.code == "llm_server_error" and "backend overloaded" in error.text


async def test_cancel_after_first_token_closes_the_connection_at_once(server: OpenAIServer) -> None:
    server.enqueue(Script(reply="one two three", hang_after=1))
    client = make_client(server.url, timeout_s=30)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in client.stream(MESSAGES):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    cancelled_at = time.time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = await server.wait_ended(0, timeout=2)
    assert record.client_disconnected and record.disconnected_at - cancelled_at < 0.5


async def test_cancel_before_the_first_token_closes_the_connection(server: OpenAIServer) -> None:
    server.enqueue(Script(first_token_delay_s=30))
    client = make_client(server.url, timeout_s=60)
    task = asyncio.create_task(collect(client))
    while not server.requests:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = await server.wait_ended(0, timeout=2)
    assert record.client_disconnected and record.deltas_sent == 0


async def test_breaking_out_under_aclosing_closes_the_connection(server: OpenAIServer) -> None:
    server.enqueue(Script(reply="a b c d e f", delta_delay_s=0.2))
    client = make_client(server.url)
    async with contextlib.aclosing(client.stream(MESSAGES)) as deltas:
        async for delta in deltas:
            assert delta == "a "
            break
    record = await server.wait_ended(0, timeout=2)
    assert record.client_disconnected and record.deltas_sent < 6


async def test_list_models(server: OpenAIServer) -> None:
    assert await make_client(server.url).list_models() == ["test-model"]


async def test_server_answers_non_streaming_requests_and_unknown_paths(server: OpenAIServer) -> None:
    import openai

    server.enqueue(Script(reply="Whole reply."))
    sdk = openai.AsyncOpenAI(base_url=server.url, api_key="k", max_retries=0)
    completion = await sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert completion.choices[0].message.content == "Whole reply."
    with pytest.raises(openai.NotFoundError, match="no route"):
        await sdk.embeddings.create(model="m", input="x")
    await sdk.close()


def test_backoff_grows_caps_and_jitters() -> None:
    backoff = Backoff(initial_s=0.5, factor=2.0, max_s=4.0, jitter=0.2)
    assert [backoff.delay(n, 0.5) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert backoff.delay(0, 0.0) == pytest.approx(0.4) and backoff.delay(0, 0.999) == pytest.approx(0.6, abs=1e-3)


async def test_server_as_a_subprocess_with_rules_and_a_log(tmp_path: Path) -> None:
    script = {"rules": [{"match": "weather", "reply": "It is sunny."}], "default": {"reply": "No idea."}}
    (tmp_path / "script.json").write_text(json.dumps(script))
    log = tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.openai_server", "--port", "0",
         "--script", str(tmp_path / "script.json"), "--log", str(log)],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 10)
        assert line.startswith("PORT "), f"expected 'PORT <n>', got {line!r}"
        client = make_client(f"http://127.0.0.1:{int(line.split()[1])}/v1")
        ask = [{"role": "user", "content": "What's the Weather like?"}]
        assert "".join([d async for d in client.stream(ask)]) == "It is sunny."
        assert "".join(await collect(client)) == "No idea."
        await client.aclose()
        for _ in range(100):  # the log line is written once the connection is closed
            if log.exists() and len(log.read_text().splitlines()) == 2:
                break
            await asyncio.sleep(0.02)
        records = [json.loads(row) for row in log.read_text().splitlines()]
        assert [r["body"]["messages"][-1]["content"] for r in records] == [ask[0]["content"], "Hi"]
        assert records[0]["headers"]["authorization"] == "Bearer sk-test"
    finally:
        proc.terminate()
        proc.wait(timeout=5)
