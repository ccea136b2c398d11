"""The ASR engine's OpenAI transcription API (``--http``), driven by the official ``openai`` client.

A real engine subprocess (ASR venv, tiny random-weight GLM-ASR on CPU) serving Wyoming and HTTP from
one process: the HTTP text equals the Wyoming text for the same audio (json, text, verbose_json and
streamed deltas), and bad or too long uploads get OpenAI errors while the engine keeps serving.
"""
from __future__ import annotations

import asyncio

import httpx2 as httpx  # what openai 3.x itself uses
import numpy as np
import openai
import pytest

from daemon.speech.openai_audio.transcribe import wav_bytes
from tests.engines.test_asr import final_text, s16_16k, speech, transcribe  # noqa: F401  (speech: a fixture)
from tests.support.http_engine import HttpEngine, serving

pytestmark = pytest.mark.engine_venv("asr")
MAX_SECONDS = 20


@pytest.fixture(scope="module")
def asr(asr_python, tiny_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("asr-http")
    with serving([str(asr_python), "-m", "engines.asr", "--model", str(tiny_model), "--device", "cpu",
                  "--max-seconds", str(MAX_SECONDS)], tmp / "engine.log") as engine:
        yield engine


@pytest.fixture(scope="module")
def client(asr):
    return openai.OpenAI(base_url=asr.base_url, api_key="unused", max_retries=0, timeout=300)


def wav_of(pcm: bytes, rate: int = 16000) -> bytes:
    return wav_bytes(pcm, rate)  # what the daemon's own client uploads


@pytest.fixture(scope="module")
def utterance(speech) -> bytes:  # noqa: F811
    """A spoken sentence as 16 kHz s16 PCM."""
    return s16_16k(speech["weather"])


@pytest.fixture(scope="module")
def wyoming_text(asr, utterance) -> str:
    text = final_text(asyncio.run(transcribe(asr.uri, utterance)))
    assert text, "the tiny model transcribes speech to some text"
    return text


def test_the_http_text_is_the_wyoming_text_for_the_same_audio(client, utterance, wyoming_text) -> None:
    answer = client.audio.transcriptions.create(model="whisper-1", file=("utterance.wav", wav_of(utterance),
                                                                         "audio/wav"), language="en")
    assert answer.text == wyoming_text


def test_streamed_deltas_add_up_to_the_done_text(client, utterance, wyoming_text) -> None:
    events = list(client.audio.transcriptions.create(model="gpt-4o-transcribe", stream=True, language="en",
                                                     file=("u.wav", wav_of(utterance), "audio/wav")))
    assert [e.type for e in events[:-1]] == ["transcript.text.delta"] * (len(events) - 1) and len(events) > 1
    assert events[-1].type == "transcript.text.done" and events[-1].text == wyoming_text
    assert "".join(e.delta for e in events[:-1]).strip() == wyoming_text


def test_text_and_verbose_json_formats(client, utterance, wyoming_text) -> None:
    data = wav_of(utterance)
    text = client.audio.transcriptions.create(model="whisper-1", file=("u.wav", data), response_format="text")
    assert text.strip() == wyoming_text
    verbose = client.audio.transcriptions.create(model="whisper-1", file=("u.wav", data),
                                                 response_format="verbose_json")
    assert verbose.text == wyoming_text
    assert verbose.duration == pytest.approx(len(utterance) / 2 / 16000, abs=1e-3)


def test_silence_is_an_empty_transcript(client) -> None:
    answer = client.audio.transcriptions.create(model="whisper-1", file=("quiet.wav", wav_of(bytes(32000))))
    assert answer.text == ""


def test_audio_over_the_engines_limit_is_a_413_and_the_engine_keeps_serving(client, utterance, wyoming_text) -> None:
    too_long = np.zeros((MAX_SECONDS + 1) * 16000, dtype="<i2").tobytes()
    with pytest.raises(openai.APIStatusError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=("long.wav", wav_of(too_long)))
    assert caught.value.status_code == 413
    assert f"at most {MAX_SECONDS} s" in caught.value.body["message"] and caught.value.body["param"] == "file"
    again = client.audio.transcriptions.create(model="whisper-1", file=("u.wav", wav_of(utterance)),
                                               language="en")
    assert again.text == wyoming_text


@pytest.mark.parametrize("data, words", [(b"this is not audio at all", "could not read notes.txt"),
                                         (b"", "'file' is empty")])
def test_a_file_that_is_not_audio_is_a_400_naming_it(client, data, words) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=("notes.txt", data))
    assert words in caught.value.body["message"] and caught.value.body["param"] == "file"


def test_an_unsupported_response_format_is_a_400(client, utterance) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=("u.wav", wav_of(utterance)),
                                           response_format="srt")
    assert "'srt'" in caught.value.body["message"] and caught.value.body["param"] == "response_format"


def test_models_lists_the_loaded_model(client, tiny_model) -> None:
    assert [m.id for m in client.models.list()] == [tiny_model.name]


def test_a_client_that_hangs_up_stops_the_transcription(asr_python, tiny_model, speech, tmp_path) -> None:  # noqa: F811
    # Random weights never stop by themselves: the benchmark knob makes each window decode a fixed
    # 100 tokens per second of audio, so a 10 s upload keeps the model busy for a while.
    engine = HttpEngine([str(asr_python), "-m", "engines.asr", "--model", str(tiny_model), "--device", "cpu",
                         "--no-live"], tmp_path / "engine.log", env={"SISYPHUS_ASR_FORCED_RATE": "100"})
    try:
        engine.wait_ready()
        long = np.tile(np.frombuffer(s16_16k(speech["weather"]), "<i2"), 6)[:10 * 16000].tobytes()
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{engine.base_url}/audio/transcriptions", files={"file": ("long.wav", wav_of(long))},
                       timeout=httpx.Timeout(30, read=1.0))
        engine.wait_log(r"request 1: cancelled, the client went away")
        client = openai.OpenAI(base_url=engine.base_url, api_key="unused", max_retries=0, timeout=300)
        assert isinstance(client.audio.transcriptions.create(model="whisper-1", file=("u.wav", wav_of(long[:32000])))
                          .text, str)
        engine.wait_log(r"request 2: .* transcribed")
    finally:
        engine.stop()
