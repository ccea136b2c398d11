"""The embedded LLM engine as a process of its own (engines/llm in the llm venv): Wyoming ``describe`` only
once the model is loaded, the OpenAI-compatible server on loopback (official openai client, streamed), the
Wyoming ``handle`` service, and clear fatal errors for a bad model file."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import openai
import pytest
from wyoming.asr import Transcript
from wyoming.handle import Handled

from daemon.llm.embedded import API_KEY_ENV, DEFAULT_GGUF
from daemon.paths import venv_site_packages
from daemon.speech.clients import Connection, describe
from engines.protocol.errors import EXIT_CONFIG, FATAL_PREFIX
from engines.protocol.transport import free_port
from tests.support.venvs import REPO, engine_python

pytestmark = pytest.mark.engine_venv("llm")


KEY = "per-run-key"


def _start(tmp_path: Path, model: Path | str, port: int) -> subprocess.Popen:
    """The engine, its log in tmp_path/engine.log (a pipe nobody reads would stall it once full)."""
    uri = f"unix://{tmp_path / 'llm.sock'}"
    with open(tmp_path / "engine.log", "wb") as log:
        return subprocess.Popen([str(engine_python("llm")), "-m", "engines.llm", "--uri", uri, "--model", str(model),
                                 "--http-port", str(port), "--context", "1024"], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, API_KEY_ENV: KEY})


def _log(tmp_path: Path) -> str:
    return (tmp_path / "engine.log").read_text(errors="replace")[-3000:]


@pytest.fixture
def engine(tmp_path: Path):
    port = free_port()
    proc = _start(tmp_path, venv_site_packages(engine_python("llm")) / DEFAULT_GGUF, port)
    uri = f"unix://{tmp_path / 'llm.sock'}"
    deadline = time.monotonic() + 90
    while not (tmp_path / "llm.sock").exists():
        assert proc.poll() is None and time.monotonic() < deadline, _log(tmp_path)
        time.sleep(0.1)
    yield uri, f"http://127.0.0.1:{port}/v1"
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise AssertionError(f"the engine did not stop within 20 s of SIGTERM:\n{_log(tmp_path)}") from None


async def test_describe_names_the_model_and_the_endpoint(engine) -> None:
    uri, url = engine
    info = await describe("llm", uri, 10)
    [program] = info.handle
    assert program.models[0].name == "SmolLM2-135M-Instruct.Q4_1"
    assert f"at {url}" in program.description and "on CPU" in program.description


async def test_streamed_chat_completions_with_the_openai_client(engine) -> None:
    _, url = engine
    client = openai.AsyncOpenAI(base_url=url, api_key=KEY)
    stranger = openai.AsyncOpenAI(base_url=url, api_key="guess", max_retries=0)
    try:
        with pytest.raises(openai.AuthenticationError):  # a web page or another local program has no key
            await stranger.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        stream = await client.chat.completions.create(
            model="anything", stream=True, max_tokens=24,
            messages=[{"role": "user", "content": "What is the capital of France?"}])
        deltas = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    finally:
        await client.close()
        await stranger.close()
    assert len([d for d in deltas if d]) >= 2 and "".join(deltas).strip()


async def test_the_wyoming_handle_service_answers_a_transcript(engine) -> None:
    uri, _ = engine
    async with await Connection.open("llm", uri) as conn:
        await conn.send(Transcript(text="Say hello."))
        event = await asyncio.wait_for(conn.recv(), 60)
    assert Handled.is_type(event.type) and Handled.from_event(event).text


@pytest.mark.parametrize("content, said", [(None, "does not exist"), (b"<html>", "is not a GGUF file")])
def test_a_bad_model_file_is_a_fatal_start_error(tmp_path: Path, content: bytes | None, said: str) -> None:
    model = tmp_path / "model.gguf"
    if content is not None:
        model.write_bytes(content)
    proc = _start(tmp_path, model, free_port())
    proc.wait(timeout=60)
    err = (tmp_path / "engine.log").read_text(errors="replace")
    assert proc.returncode == EXIT_CONFIG, err[-2000:]
    [line] = [l for l in err.splitlines() if l.startswith(FATAL_PREFIX)]
    fatal = json.loads(line[len(FATAL_PREFIX):])
    assert fatal["code"] == "model_not_found" and said in fatal["text"] and "[llm] embedded_model" in fatal["text"]
