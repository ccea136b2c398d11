"""Pure parts of the engines' OpenAI-audio side: the listening address, the token, error mapping, WAV headers."""
from __future__ import annotations

import argparse
import io
import wave

import pytest
from wyoming.audio import AudioStart
from wyoming.error import Error

from engines.common.http import MAX_BODY, ApiError, options, parse_address
from engines.protocol import errors
from engines.tts.http import wav_header


@pytest.mark.parametrize("text, allow, expected", [
    ("127.0.0.1:8880", False, ("127.0.0.1", 8880)),
    ("localhost:1", False, ("localhost", 1)),
    ("[::1]:8880", False, ("::1", 8880)),
    ("http://127.0.0.1:9000", False, ("127.0.0.1", 9000)),
    ("0.0.0.0:8880", True, ("0.0.0.0", 8880)),
])
def test_addresses_that_are_served(text, allow, expected) -> None:
    assert parse_address(text, allow) == expected


@pytest.mark.parametrize("text, words", [
    ("0.0.0.0:8880", "--allow-network"),
    ("192.168.1.5:8880", "--allow-network"),
    ("127.0.0.1", "HOST:PORT"),
    ("127.0.0.1:http", "HOST:PORT"),
    (":8880", "HOST:PORT"),
])
def test_addresses_that_are_refused_say_why(text, words) -> None:
    with pytest.raises(ValueError, match=words):
        parse_address(text, False)


def _args(**extra) -> argparse.Namespace:
    base = {"http": "127.0.0.1:8880", "allow_network": False, "http_token_env": None, "max_payload": 1024,
            "max_connections": 4}
    return argparse.Namespace(**{**base, **extra})


def test_options_read_the_token_from_the_named_variable(monkeypatch) -> None:
    monkeypatch.setenv("ENGINE_TOKEN_TEST", "abc")
    opts = options(_args(http_token_env="ENGINE_TOKEN_TEST"))
    assert (opts.token, opts.max_requests, opts.max_body) == ("abc", 4, MAX_BODY)
    assert options(_args()).token is None


@pytest.mark.parametrize("value", [None, ""])
def test_a_token_variable_that_is_unset_or_empty_is_refused(monkeypatch, value) -> None:
    monkeypatch.delenv("ENGINE_TOKEN_TEST", raising=False)
    if value is not None:
        monkeypatch.setenv("ENGINE_TOKEN_TEST", value)
    with pytest.raises(ValueError, match="ENGINE_TOKEN_TEST is not set or empty"):
        options(_args(http_token_env="ENGINE_TOKEN_TEST"))


@pytest.mark.parametrize("code, status", [(errors.UNKNOWN_VOICE, 400), (errors.BAD_AUDIO, 400),
                                          (errors.BUSY, 503), (errors.CUDA_OOM, 503), (errors.INTERNAL, 500),
                                          ("something_new", 500), (None, 500)])
def test_engine_errors_keep_their_text_and_code_with_the_http_status(code, status) -> None:
    error = ApiError.from_event(Error(text="what went wrong", code=code), "voice")
    body = error.body()["error"]
    assert error.status == status and body["message"] == "what went wrong" and body["param"] == "voice"
    assert body["code"] == (code or errors.INTERNAL)
    assert body["type"] == ("invalid_request_error" if status == 400 else "server_error")


def test_a_503_tells_the_client_when_to_retry() -> None:
    assert ApiError(503, "loading").response().headers["Retry-After"] == "5"
    assert "Retry-After" not in ApiError(400, "bad").response().headers


def test_the_wav_header_of_a_whole_clip_has_exact_sizes() -> None:
    pcm = bytes(range(200)) * 24
    data = wav_header(AudioStart(rate=24000, width=2, channels=1), len(pcm)) + pcm
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (24000, 2, 1)
        assert wav.readframes(wav.getnframes()) == pcm


def test_the_wav_header_of_a_stream_has_unknown_sizes() -> None:
    header = wav_header(AudioStart(rate=16000, width=2, channels=2), None)
    assert len(header) == 44 and header[4:8] == b"\xff" * 4 and header[40:44] == b"\xff" * 4
    assert int.from_bytes(header[28:32], "little") == 16000 * 4  # byte rate
