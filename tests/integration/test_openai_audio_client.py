"""The OpenAI-audio client against the fake speech server over a real socket: the forms servers answer
in, and every way a request fails, each a daemon error with a stable code and the server's words."""
from __future__ import annotations

import pytest

from daemon.errors import EngineRequestError, EngineUnreachable
from daemon.speech import clients
from daemon.speech.openai_audio import HttpOptions
from tests.support.speech_server import SpeechServer, speech_pcm

FAST = HttpOptions(timeout_s=1.0, connect_timeout_s=1.0)


@pytest.fixture
async def server():
    fake = SpeechServer()
    await fake.start()
    yield fake
    await fake.stop()


async def texts(*chunks: str):
    for chunk in chunks:
        yield chunk


async def blocks(n: int = 5):
    for _ in range(n):
        yield b"\x10\x00" * 1600


async def speak(server: SpeechServer, *chunks: str, voice: str | None = None, options: HttpOptions = FAST) -> bytes:
    audio = [a async for a in clients.synthesize("tts", server.url, texts(*chunks), voice=voice, http=options)]
    assert all(a.rate == 24000 and len(a.data) % 2 == 0 for a in audio)
    return b"".join(a.data for a in audio)


async def test_a_server_that_ignores_streaming_answers_one_wav_and_it_plays(server):
    server.whole_wav = True
    assert await speak(server, "One. ", "  ", "Two.") == speech_pcm("One. ", 0) + speech_pcm("Two.", 1)
    assert [r.body["input"] for r in server.spoken] == ["One. ", "Two."]  # whitespace is not sent


@pytest.mark.parametrize("setting, sent", [("en", "English"), ("pt-BR", "Portuguese"), ("german", "German"),
                                           ("Klingon", "Klingon")])
async def test_the_speech_language_is_sent_as_the_name_vllm_omni_wants(server, setting, sent):
    audio = clients.synthesize("tts", server.url, texts("Hi."), language=setting, http=FAST)
    if sent == "Klingon":  # not a language the table knows: sent as given, and the server's refusal is said
        with pytest.raises(EngineRequestError, match="Invalid language 'Klingon'"):
            [a async for a in audio]
        return
    assert [a async for a in audio] and [r.body["language"] for r in server.spoken] == [sent]


async def test_a_kept_alive_connection_the_server_dropped_is_replaced(server):
    server.drop_reused = True
    assert await speak(server, "One. ", "Two.") == speech_pcm("One. ", 0) + speech_pcm("Two.", 1)


async def test_a_speaches_style_empty_done_keeps_the_deltas(server):
    server.empty_done = True
    partials: list[str] = []
    text = await clients.transcribe("asr", server.url, blocks(), on_partial=partials.append, http=FAST)
    assert text.strip() == server.transcript and partials[-1].strip() == server.transcript


async def test_nothing_heard_sends_nothing(server):
    assert await clients.transcribe("asr", server.url, blocks(0), http=FAST) == ""
    assert server.transcriptions == []


@pytest.mark.parametrize("knob, value, code, words", [
    ("json_200", True, "engine_protocol", "application/json instead of audio: model is still loading"),
    ("cut_after", 3, "engine_died", "closed the connection mid-request"),
    ("fail", "500", "engine_error", "HTTP 500: EngineDeadError"),
    ("fail", "slow", "engine_timeout", "sent nothing for 1 s"),
    ("api_key", "sk-other", "engine_auth", "SISYPHUS_TTS_API_KEY"),
])
async def test_each_failure_of_a_speech_request_is_an_engine_error_with_its_reason(server, knob, value, code, words):
    setattr(server, knob, value)
    with pytest.raises(EngineRequestError) as caught:
        await speak(server, "Hello there.")
    assert caught.value.code == code and words in caught.value.text, caught.value.text


async def test_unknown_voice_and_model_carry_the_servers_words(server):
    with pytest.raises(EngineRequestError, match="Invalid speaker 'bob'. Supported: aiden.*sisyphus set-voice"):
        await speak(server, "Hi.", voice="bob")
    with pytest.raises(EngineRequestError, match="does not exist.*check \\[tts\\] uri") as caught:
        await speak(server, "Hi.", options=HttpOptions(model="tts-1", timeout_s=1))
    assert caught.value.code == "engine_not_found"


async def test_nobody_listening_is_unreachable(server):
    await server.stop()
    with pytest.raises(EngineUnreachable, match="connection refused"):
        await speak(server, "Hi.")
    with pytest.raises(EngineUnreachable, match="connection refused"):
        await clients.transcribe("asr", server.url, blocks(), http=FAST)


async def test_a_path_without_the_api_is_named(server):
    with pytest.raises(EngineRequestError, match="no OpenAI audio API at .*/nothing.*check \\[asr\\] uri"):
        await clients.describe("asr", server.url.replace("/v1", "/nothing"), 2.0, FAST)
    info = await clients.describe("asr", server.url, 2.0, FAST)
    assert info.asr[0].models[0].name == server.tts_model  # the first model the server lists
