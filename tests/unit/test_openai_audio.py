"""The OpenAI-audio client's pure parts: stream decoders fed pieces cut anywhere, error shapes of
the servers in the research note, voice-list shapes, settings and spec."""
from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.config.schema import ConfigError, EngineSettings, from_table
from daemon.speech.openai_audio.decode import DecodeError, Format, PcmStream, SseParser, WavStream, pcm_format
from daemon.speech.openai_audio.errors import error_message, mentions, status_error
from daemon.speech.openai_audio.options import HttpOptions, check_http_uri
from daemon.speech.openai_audio.probe import OPENAI_VOICES, model_ids, tts_voices
from daemon.speech.openai_audio.speech import SpeechBody
from daemon.supervisor.spec import from_settings
from tests.support.speech_server import wav_header

PCM = bytes(range(256)) * 10  # 2560 bytes: 1280 s16 samples whose bytes all differ in a row


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({p % (len(data) + 1) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in zip(edges, edges[1:])]


# -- raw PCM -------------------------------------------------------------------------

@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=40), st.sampled_from([1, 2]))
@settings(max_examples=200, deadline=None)
def test_pcm_split_anywhere_comes_out_as_whole_frames_in_order(points, channels):
    stream = PcmStream(Format(24000, 2, channels))
    out = []
    for piece in cut(PCM, points):
        frames = stream.feed(piece)
        assert len(frames) % (2 * channels) == 0
        out.append(frames)
    assert b"".join(out) == PCM and stream.pending == 0


def test_an_odd_byte_waits_for_its_other_half():
    stream = PcmStream(Format())
    assert stream.feed(b"\x01\x02\x03") == b"\x01\x02" and stream.pending == 1
    assert stream.feed(b"\x04") == b"\x03\x04" and stream.pending == 0


# -- WAV from a stream ---------------------------------------------------------------

def test_a_wav_header_cut_at_every_byte_is_parsed_and_the_samples_follow():
    wire = wav_header(rate=22050) + PCM
    for at in range(1, 60):
        stream = WavStream()
        out = stream.feed(wire[:at]) + stream.feed(wire[at:])
        assert out == PCM and stream.format == Format(22050, 2, 1), at


def test_a_wav_fed_byte_by_byte():
    stream = WavStream()
    assert b"".join(stream.feed(bytes([b])) for b in wav_header() + PCM) == PCM


def test_a_wav_with_its_true_size_ends_there_and_skips_other_chunks():
    fmt = struct.pack("<IHHIIHH", 16, 1, 2, 16000, 64000, 4, 16)
    listing = b"LIST" + struct.pack("<I", 5) + b"abcde\x00"  # odd size: a pad byte follows
    wire = b"RIFF\x00\x00\x00\x00WAVEfmt " + fmt + listing + b"data" + struct.pack("<I", 8) + b"12345678" + b"trailer!"
    stream = WavStream()
    assert stream.feed(wire) == b"12345678" and stream.format == Format(16000, 2, 2)


def test_not_a_wav_or_not_integer_pcm_is_refused():
    with pytest.raises(DecodeError, match="RIFF"):
        WavStream().feed(b"ID3\x04" + PCM)
    floats = wav_header()[:20] + struct.pack("<HHIIHH", 3, 1, 24000, 96000, 4, 32) + b"data\xff\xff\xff\xff"
    with pytest.raises(DecodeError, match="not integer PCM"):
        WavStream().feed(floats + PCM)


# -- server-sent events --------------------------------------------------------------

SSE = (b": keep-alive\r\nevent: speech.audio.delta\r\ndata: {\"a\": 1}\r\n\r\n"
       b"data: {\"type\": \"x\",\r\ndata: \"b\": 2}\n\n"
       b"event: speech.audio.done\rdata: {}\r\r")


def test_sse_events_whatever_the_line_ends_and_cuts():
    expected = [("speech.audio.delta", '{"a": 1}'), ("", '{"type": "x",\n"b": 2}'), ("speech.audio.done", "{}")]
    for at in range(len(SSE) + 1):
        parser = SseParser()
        events = parser.feed(SSE[:at]) + parser.feed(SSE[at:]) + parser.end()
        assert [(e.event, e.data) for e in events] == expected, at
    parser = SseParser()
    events = parser.feed(SSE)
    assert len(events) == 2  # the last line ends in a bare CR: it may be half of a CRLF, so it waits
    events += parser.end()
    assert events[1].json() == {"type": "x", "b": 2}
    assert events[2].json() == {"type": "speech.audio.done"}  # the event name as type


def test_an_sse_stream_that_ends_without_its_blank_line_still_gives_its_last_event():
    parser = SseParser()
    assert parser.feed(b"data: {\"done\": true}") == []
    assert [e.data for e in parser.end()] == ['{"done": true}']


def sse_body(pieces: list[bytes], fmt: str = "pcm", done: bool = True) -> bytes:
    out = b""
    for piece in pieces:
        event = {"type": "speech.audio.delta", "audio": base64.b64encode(piece).decode(), "response_format": fmt}
        out += b"event: speech.audio.delta\ndata: " + json.dumps(event).encode() + b"\n\n"
    if done:
        out += b"event: speech.audio.done\ndata: {\"type\": \"speech.audio.done\", \"usage\": {}}\n\n"
    return out


@given(st.lists(st.integers(min_value=0, max_value=3000), max_size=10),
       st.lists(st.integers(min_value=0, max_value=20_000), max_size=30))
@settings(max_examples=100, deadline=None)
def test_speech_sse_with_deltas_that_split_samples_gives_the_audio_in_order(delta_points, wire_points):
    body = SpeechBody("text/event-stream; charset=utf-8")
    wire = sse_body(cut(PCM, delta_points))
    audio = [a for piece in cut(wire, wire_points) for a in body.feed(piece)] + body.end()
    assert b"".join(a.data for a in audio) == PCM and body.done
    assert all((a.rate, a.width, a.channels) == (24000, 2, 1) and len(a.data) % 2 == 0 for a in audio)


def test_speech_sse_carrying_wav_and_an_error_event():
    body = SpeechBody("text/event-stream")
    audio = body.feed(sse_body([wav_header(16000)[:30], wav_header(16000)[30:] + PCM], fmt="wav", done=False))
    assert b"".join(a.data for a in audio) == PCM and audio[0].rate == 16000
    error = {"type": "speech.audio.error", "error": {"message": "CUDA out of memory", "code": 500}}
    with pytest.raises(Exception, match="CUDA out of memory"):
        body.feed(b"event: speech.audio.error\ndata: " + json.dumps(error).encode() + b"\n\n")


def test_speech_bodies_by_content_type():
    assert SpeechBody("audio/pcm;rate=22050").feed(PCM[:4])[0].rate == 22050  # openedai-speech's Piper voices
    sniffed = SpeechBody("application/octet-stream")
    assert b"".join(a.data for a in sniffed.feed(wav_header(16000) + PCM)) == PCM
    assert b"".join(a.data for a in SpeechBody("").feed(PCM)) == PCM  # no header: 24 kHz s16 mono PCM
    with pytest.raises(DecodeError, match="ignored response_format=pcm"):
        SpeechBody("audio/mpeg")
    with pytest.raises(DecodeError, match="implausible"):
        pcm_format({"rate": "5"})


# -- error shapes --------------------------------------------------------------------

@pytest.mark.parametrize("body, said", [
    ({"error": {"message": "Invalid speaker 'bob'", "type": "BadRequestError", "param": None, "code": 400}},
     "Invalid speaker 'bob'"),  # vLLM-Omni (OpenAI's shape, integer code)
    ({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}},
     "Incorrect API key provided"),  # OpenAI
    ({"detail": "Model 'x' is not installed locally"}, "Model 'x' is not installed locally"),  # Speaches
    ({"detail": {"error": "validation_error", "message": "Unsupported model", "type": "invalid_request_error"}},
     "Unsupported model"),  # Kokoro-FastAPI
    ({"detail": [{"loc": ["body", "input"], "msg": "Field required", "type": "missing"}]},
     "Field required (body.input)"),  # FastAPI validation
    ({"message": "voice not found", "code": 400, "type": "BadRequestError", "param": None}, "voice not found"),
])
def test_every_known_error_shape_gives_the_servers_words(body, said):
    assert error_message(json.dumps(body).encode()) == said


def test_plain_and_long_error_bodies():
    assert error_message(b"<html><body>\n502 Bad Gateway\n</body></html>") == "<html><body> 502 Bad Gateway </body></html>"
    assert error_message(b"") == ""
    assert len(error_message(b"x" * 5000)) == 300


def test_status_errors_name_the_fix():
    auth = status_error("tts", "http://box/v1/audio/speech", 401, b'{"error": {"message": "bad key"}}')
    assert auth.code == "engine_auth" and "SISYPHUS_TTS_API_KEY" in auth.text and "bad key" in auth.text
    assert status_error("asr", "u", 404, b"").code == "engine_not_found"
    assert status_error("asr", "u", 503, b"overloaded").code == "engine_error"
    refused = status_error("tts", "u", 400, b'{"error": {"message": "Unrecognized request argument supplied: stream"}}')
    assert mentions(refused, "stream") and not mentions(status_error("tts", "u", 500, b"stream"), "stream")


# -- voices and models ---------------------------------------------------------------

def names(value) -> list[str]:
    return [v.name for v in tts_voices(value)]


def test_voice_lists_of_every_known_shape():
    vllm = {"voices": ["aiden", "vivian"], "uploaded_voices": [{"name": "grandpa", "consent": "yes"}]}
    assert names(vllm) == ["aiden", "vivian", "grandpa"] and "cloned" in tts_voices(vllm)[2].description
    speaches = {"object": "list", "voices": [{"id": "af_heart", "name": "Heart", "language": "en-us", "gender": "f"}]}
    voice = tts_voices(speaches)[0]
    assert (voice.name, voice.languages) == ("af_heart", ["en-us"]) and "Heart" in voice.description
    assert names({"voices": [{"id": "am_adam", "name": "am_adam"}]}) == ["am_adam"]  # Kokoro-FastAPI
    assert names(["alloy", "alloy", "", 3]) == ["alloy"]  # a bare list (legacy), duplicates and junk dropped
    assert names(None) == list(OPENAI_VOICES)  # no voice list at all: OpenAI's names


def test_model_lists():
    assert model_ids({"object": "list", "data": [{"id": "tts-1"}, {"id": "whisper-1"}]}) == ["tts-1", "whisper-1"]
    assert model_ids({"models": [{"name": "kokoro"}]}) == ["kokoro"] and model_ids("nonsense") == []


# -- settings and spec ---------------------------------------------------------------

def test_http_uris_in_the_settings():
    table = {"tts": {"uri": "http://gpu-box:8091/v1", "model": "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice"},
             "asr": {"uri": "https://speech.example.com/v1", "api_key": "sk-file"}}
    loaded = from_table(table, Path("c.toml"))
    assert loaded.tts.uri == "http://gpu-box:8091/v1" and loaded.asr.api_key == "sk-file"
    for bad, words in (("http://gpu-box:port/v1", "port must be a number"), ("http:///v1", "needs a host"),
                       ("ws://gpu-box:8091", "http(s)://HOST:PORT/v1")):
        with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
            from_table({"tts": {"uri": bad}}, Path("c.toml"))
    assert check_http_uri("http://[::1]:8000/v1") == ""


def test_the_spec_of_an_http_engine_carries_model_and_key(monkeypatch):
    engine = EngineSettings(uri="http://box:8091/v1", model="m", api_key="from-file", request_timeout_s=7.0)
    monkeypatch.delenv("SISYPHUS_TTS_API_KEY", raising=False)
    spec = from_settings("tts", engine, "unix:///run/tts.sock", ("python",))
    assert spec.remote and spec.http == HttpOptions("m", "from-file", 7.0)
    monkeypatch.setenv("SISYPHUS_TTS_API_KEY", "from-env")
    spec = from_settings("tts", engine, "unix:///run/tts.sock", ("python",))
    assert spec.http is not None and spec.http.api_key == "from-env" and "from-env" not in repr(spec)
    assert from_settings("tts", EngineSettings(uri="tcp://box:10200"), "x", ()).http is None
