"""The TTS engine's OpenAI speech API (``--http``), driven by the official ``openai`` client.

A real engine subprocess (TTS venv, tiny random-weight Qwen3-TTS on CPU) serving Wyoming and HTTP
from one process: streamed PCM whose first bytes arrive while the engine is still speaking, WAV and
SSE forms, voices and models, the errors (unknown voice, empty and oversized input), a client that
hangs up mid-stream (generation stops; the next request is served), the bearer token, the 503 while
loading and the loopback rule (those three on the fake engine: the same shared HTTP code, fast to start).
"""
from __future__ import annotations

import base64
import io
import json
import socket
import subprocess
import sys
import time
import wave

import httpx2 as httpx  # what openai 3.x itself uses
import numpy as np
import openai
import pytest

from tests.support.http_engine import HttpEngine, serving
from tests.support.venvs import REPO

pytestmark = pytest.mark.engine_venv("tts")
RATE = 24000
CAP = 60  # --max-new-tokens: at most 4.8 s of audio per sentence keeps the tiny model's requests short
LONG = " ".join(f"This is sentence number {n} of a longer answer." for n in range(1, 7))


@pytest.fixture(scope="module")
def tts(tts_python, tiny_models, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tts-http")
    with serving([str(tts_python), "-m", "engines.tts", "--custom-voice-model", str(tiny_models["custom_voice"]),
                  "--base-model", str(tiny_models["base"]), "--voices-dir", str(tmp / "voices"),
                  "--device", "cpu", "--max-new-tokens", str(CAP)], tmp / "engine.log") as engine:
        yield engine


@pytest.fixture(scope="module")
def client(tts):
    return openai.OpenAI(base_url=tts.base_url, api_key="unused", max_retries=0, timeout=300)


def stream_pcm(client: openai.OpenAI, text: str, voice: str = "vivian") -> tuple[list[tuple[float, int]], float]:
    """(seconds since the request, bytes so far) at every read; and the total time."""
    started = time.perf_counter()
    reads: list[tuple[float, int]] = []
    total = 0
    with client.audio.speech.with_streaming_response.create(model="qwen3-tts", voice=voice, input=text,
                                                            response_format="pcm") as response:
        assert response.headers["content-type"].startswith("audio/pcm")
        for data in response.iter_bytes():
            total += len(data)
            reads.append((time.perf_counter() - started, total))
    return reads, time.perf_counter() - started


def test_streamed_pcm_arrives_while_the_engine_is_still_speaking(client, tts) -> None:
    reads, total_s = stream_pcm(client, LONG)
    total = reads[-1][1]
    assert total % 2 == 0 and total > RATE * 2  # s16 samples, more than a second of audio
    first_s, first_bytes = reads[0]
    # The first bytes came as the first frames existed: a small part of the clip, long before the end.
    assert len(reads) > 3, reads
    assert first_bytes < total / 3, (first_bytes, total)
    assert first_s < total_s / 2, (first_s, total_s)
    tts.wait_log(f"speech: {len(LONG)} characters")


def test_pcm_is_24_khz_s16_audio_with_signal(client) -> None:
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice="ryan", input="Hello there.",
                                                            response_format="pcm") as response:
        data = response.read()
    samples = np.frombuffer(data, dtype="<i2")
    assert samples.size > RATE // 10 and np.abs(samples).max() > 0


def test_wav_is_one_file_with_exact_sizes(client) -> None:
    answer = client.audio.speech.create(model="tts-1", voice="vivian", input="Good morning.", response_format="wav")
    with wave.open(io.BytesIO(answer.content)) as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (RATE, 2, 1)
        assert wav.getnframes() * 2 == len(answer.content) - 44 > 0


def test_streamed_wav_has_a_header_of_unknown_length_then_the_samples(tts) -> None:
    body = {"model": "tts-1", "input": "Good morning.", "voice": "vivian", "response_format": "wav",
            "stream_format": "audio"}
    with httpx.stream("POST", f"{tts.base_url}/audio/speech", json=body, timeout=300) as response:
        assert response.headers["content-type"] == "audio/wav" and "content-length" not in response.headers
        data = response.read()
    assert data[:4] == b"RIFF" and data[4:8] == b"\xff" * 4 and data[36:44] == b"data" + b"\xff" * 4
    assert len(data) > 44 and (len(data) - 44) % 2 == 0


def test_sse_sends_base64_deltas_then_done(tts) -> None:
    body = {"model": "qwen3-tts", "input": "Good evening. How are you?", "voice": "vivian",
            "response_format": "pcm", "stream_format": "sse"}
    with httpx.stream("POST", f"{tts.base_url}/audio/speech", json=body, timeout=300) as response:
        assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream"
        events = [json.loads(line[len("data: "):]) for line in response.iter_lines() if line.startswith("data: ")]
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1) and len(events) > 2
    assert events[-1]["type"] == "speech.audio.done"
    pcm = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert events[-1]["audio_seconds"] == pytest.approx(len(pcm) / 2 / RATE, abs=1e-3)


def test_voices_and_models_list_what_the_engine_serves(client, tts, tiny_models) -> None:
    voices = httpx.get(f"{tts.base_url}/audio/voices").json()
    names = [v["id"] for v in voices["voices"]]
    assert voices["object"] == "list" and "vivian" in names and "ryan" in names
    assert all(v["name"] == v["id"] and v["languages"] for v in voices["voices"])
    assert [m.id for m in client.models.list()] == ["sisyphus-qwen3-tts", str(tiny_models["custom_voice"]),
                                                     str(tiny_models["base"])]


def test_the_daemon_s_client_configured_with_a_checkpoint_name_finds_it(tts, tiny_models) -> None:
    """`[tts] model` set as for vLLM-Omni (the checkpoint's name) is served by our engine too; a name
    that is not served is refused at the probe with the names that are."""
    import asyncio

    from daemon.errors import EngineRequestError
    from daemon.speech.openai_audio.options import HttpOptions
    from daemon.speech.openai_audio.probe import describe

    info = asyncio.run(describe("tts", tts.base_url, 30, HttpOptions(model=str(tiny_models["custom_voice"]))))
    assert f"model {tiny_models['custom_voice']}" in info.tts[0].description
    with pytest.raises(EngineRequestError, match="serves sisyphus-qwen3-tts, .*not 'Qwen/Nope'"):
        asyncio.run(describe("tts", tts.base_url, 30, HttpOptions(model="Qwen/Nope")))


def test_an_unknown_voice_is_a_400_naming_it_and_the_engine_keeps_serving(client) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tts-1", voice="nobody", input="Hello.", response_format="pcm")
    error = caught.value.body
    assert error["code"] == "unknown_voice" and error["param"] == "voice" and "'nobody'" in error["message"]
    assert "/v1/audio/voices" in error["message"]
    assert len(client.audio.speech.create(model="tts-1", voice="ryan", input="Hi.", response_format="pcm").content) > 0


@pytest.mark.parametrize("body, status, param, words", [
    ({"input": "   "}, 400, "input", "empty"),
    ({"input": "x" * 4097}, 413, "input", "4097 characters"),
    ({"input": "Hi.", "response_format": "mp3"}, 400, "response_format", "'pcm'"),
    ({"input": "Hi.", "speed": 1.5}, 400, "speed", "1.0"),
    ({"input": "Hi.", "stream_format": "websocket"}, 400, "stream_format", "'sse'"),
    ({"voice": "vivian"}, 400, "input", "required"),
])
def test_bad_requests_get_openai_errors_that_say_what_to_fix(tts, body, status, param, words) -> None:
    answer = httpx.post(f"{tts.base_url}/audio/speech", json={"model": "tts-1", "voice": "vivian", **body})
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["param"] == param and words in error["message"] and error["type"] == "invalid_request_error"


def test_a_body_that_is_not_json_is_a_400(tts) -> None:
    answer = httpx.post(f"{tts.base_url}/audio/speech", content=b"{not json", headers={"content-type": "text/plain"})
    assert answer.status_code == 400 and "not JSON" in answer.json()["error"]["message"]


def test_a_client_that_hangs_up_mid_stream_stops_the_generation(client, tts) -> None:
    text = "Hanging up now. " + LONG
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice="vivian", input=text,
                                                            response_format="pcm") as response:
        next(response.iter_bytes())  # the first audio, then hang up
    # The model stopped within a frame of the hang-up, in the first sentence, and released the lock:
    # the next request is answered in full.
    tts.wait_log(r"cancelled after \d+ frames: 'Hanging up now\.'")
    assert f"speech: {len(text)} characters" not in tts.text()
    reads, _total = stream_pcm(client, "Are you still there?")
    assert reads[-1][1] > RATE // 10


# -- the shared HTTP side on the fake engine: token, loading, loopback ----------------------------------------
def fake_tts(tmp_path, *extra: str, env: dict | None = None) -> HttpEngine:
    return HttpEngine([sys.executable, "-m", "engines.fake", "tts"], tmp_path / "fake.log", *extra, env=env)


def test_a_missing_or_wrong_bearer_token_is_a_401(tmp_path) -> None:
    engine = fake_tts(tmp_path, "--http-token-env", "TEST_TTS_TOKEN", env={"TEST_TTS_TOKEN": "s3cret"})
    try:
        engine.wait_ready(headers={"Authorization": "Bearer s3cret"})
        with pytest.raises(openai.AuthenticationError) as caught:
            openai.OpenAI(base_url=engine.base_url, api_key="wrong", max_retries=0).audio.speech.create(
                model="tts-1", voice="alto", input="Hi.", response_format="pcm")
        assert caught.value.status_code == 401 and "Bearer" in caught.value.body["message"]
        for path in ("/audio/speech", "/models", "/audio/voices"):  # no Authorization header at all
            answer = httpx.request("POST" if path == "/audio/speech" else "GET", engine.base_url + path,
                                   json={"input": "Hi."})
            assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_api_key"
        good = openai.OpenAI(base_url=engine.base_url, api_key="s3cret", max_retries=0)
        assert len(good.audio.speech.create(model="tts-1", voice="alto", input="Hi.", response_format="pcm").content)
    finally:
        engine.stop()


def test_the_http_port_answers_503_while_the_model_loads(tmp_path) -> None:
    engine = fake_tts(tmp_path, "--slow-start", "3")
    try:
        deadline = time.monotonic() + 30
        while True:  # the port answers as soon as the process has parsed its arguments
            try:
                answer = httpx.post(f"{engine.base_url}/audio/speech", json={"input": "Hi."})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, engine.text()
                time.sleep(0.05)
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
        error = answer.json()["error"]
        assert error["code"] == "loading" and "loading its model" in error["message"]
        assert set(engine.wait_ready()) <= {503}  # then it serves
        assert httpx.post(f"{engine.base_url}/audio/speech", json={"input": "Hi."}).status_code == 200
    finally:
        engine.stop()


def test_http_on_a_network_address_needs_allow_network() -> None:
    done = subprocess.run([sys.executable, "-m", "engines.fake", "tts", "--uri", "tcp://127.0.0.1:1",
                           "--http", "0.0.0.0:8880"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 78
    assert "--allow-network" in done.stderr and "0.0.0.0:8880" in done.stderr


def test_a_token_variable_that_is_not_set_stops_the_start_with_a_clear_message() -> None:
    done = subprocess.run([sys.executable, "-m", "engines.fake", "tts", "--uri", "tcp://127.0.0.1:1",
                           "--http", "127.0.0.1:8880", "--http-token-env", "NO_SUCH_TOKEN_VARIABLE_24"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 78 and "NO_SUCH_TOKEN_VARIABLE_24" in done.stderr and "not set" in done.stderr


def test_an_http_port_in_use_stops_the_start_before_loading(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "engines.fake", "tts", "--uri", "tcp://127.0.0.1:1",
                               "--http", f"127.0.0.1:{port}", "--slow-start", "30"],
                              capture_output=True, text=True, timeout=25, cwd=REPO)
    assert done.returncode == 78
    assert f"--http 127.0.0.1:{port}: cannot listen there" in done.stderr and "free port" in done.stderr
