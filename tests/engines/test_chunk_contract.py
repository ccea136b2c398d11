"""The chunking contract across the seam: the daemon's real chunker into real TTS engines.

A dozen real-looking replies go through ``daemon.llm.sentences.SentenceChunker`` as an LLM
streams them (word deltas). The chunks must join back to the speakable text, and, fed one
by one, each must start a synthesis of its own before the next one is sent:
- into our TTS engine (tiny random-weight model) as a ``synthesize-start/chunk/stop``
  stream, the form Home Assistant uses and the one where an engine could re-split or
  hold text back;
- into wyoming-piper through the daemon's own TTS client (one ``synthesize`` per chunk,
  daemon.speech.clients.synthesize), as the cpu profile runs it.
"""
from __future__ import annotations

import asyncio

import pytest
from wyoming.client import AsyncClient
from wyoming.tts import SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from daemon.events import EventBus
from daemon.llm.markdown import SpeakableText
from daemon.llm.sentences import SentenceChunker
from daemon.speech import clients
from daemon.supervisor.spec import EngineSpec
from daemon.supervisor.supervisor import EngineSupervisor
from engines.protocol.chunking import speakable
from daemon.supervisor.cpu import piper_argv
from tests.engines.test_tts import Engine, engine_argv
from tests.support.engines import FAST, unix_uri
from tests.support.venvs import engine_python

REPLIES = [
    "Sure. The answer is forty two. Is there anything else?",
    "Dr. Smith said the U.S. team won, e.g. in the final. Great news!",
    "Pi is about 3.14, and e is about 2.72. Both numbers are irrational.",
    "Here is the plan:\n1. Preheat the oven\n2. Bake for 20 minutes\n3. Let it cool.",
    "**Bold** claims need `proof`. Read [the docs](https://x.y/a.b) first.",
    "Do you want tea? Or would you prefer coffee? I can make both!",
    "The meeting is at 3 p.m. Please arrive early. Bring your notes, etc. Thanks.",
    "Well... I think so. It costs $5.99 at example.com today.",
    "## Summary\n- Apples are red\n- Bananas are yellow\n\nThat is all.",
    "The weather today is sunny, with a light breeze from the west. Enjoy it.",
    'He said "Stop." Then he left (quietly.) Nobody noticed, not even me.',
    "你好。今天天气很好！你想去公园吗？",
]
CJK = REPLIES[-1]


def llm_deltas(text: str) -> list[str]:
    """Word-sized deltas with their spaces, as LLM servers stream them (CJK: two characters)."""
    if " " not in text:
        return [text[i:i + 2] for i in range(0, len(text), 2)]
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]]


def chunks_of(text: str) -> list[str]:
    chunker = SentenceChunker()
    out = [c for delta in llm_deltas(text) for c in chunker.feed(delta)]
    return out + chunker.flush()


@pytest.mark.parametrize("reply", REPLIES)
def test_chunks_join_back_to_the_speakable_text(reply: str) -> None:
    markdown = SpeakableText()
    said = markdown.feed(reply) + markdown.flush()
    chunks = chunks_of(reply)
    joined = "".join(chunks)
    assert said.startswith(joined) and not speakable(said[len(joined):]), chunks
    assert all(speakable(c) for c in chunks)
    if reply != CJK:
        assert all(c[-1].isspace() for c in chunks[:-1]), f"a chunk without its trailing space: {chunks}"
    assert len(chunks) >= 2


# -- our TTS engine, streamed ----------------------------------------------------------------

@pytest.fixture(scope="module")
def tts_engine(tts_python, tiny_models, tmp_path_factory):
    base = tmp_path_factory.mktemp("tts-contract")
    # a short frame budget: random weights rarely stop by themselves, and only the timing matters
    argv = engine_argv(tts_python, tiny_models, f"unix://{base / 'tts.sock'}", base / "voices",
                       "--max-new-tokens", "12")
    running = Engine(argv, base / "tts.sock", base / "engine.log")
    yield running
    running.stop()


async def stream_into_engine(uri: str, chunks: list[str]) -> list[str]:
    """Send each chunk only once the engine has started speaking the one before; event types back."""
    types: list[str] = []
    async with AsyncClient.from_uri(uri) as client:

        async def until(kind: str, count: int = 1) -> None:
            while types.count(kind) < count:
                event = await asyncio.wait_for(client.read_event(), 60)
                assert event is not None and event.type != "error", (event and event.data, types)
                types.append(event.type)

        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="ryan")).event())
        for n, chunk in enumerate(chunks, 1):
            await client.write_event(SynthesizeChunk(text=chunk).event())
            if n == len(chunks):  # the reply's end has no space after it: synthesize-stop says it is complete
                await client.write_event(SynthesizeStop().event())
            try:
                await until("audio-start", n)
            except asyncio.TimeoutError:
                pytest.fail(f"chunk {n} {chunk!r} of {chunks} was held back: no synthesis started")
            assert types.count("audio-start") == n, f"chunk {n} {chunk!r} re-split: {types}"
        await until("synthesize-stopped")
    return types


@pytest.mark.engine_venv("tts")
async def test_our_engine_speaks_each_chunk_as_it_arrives(tts_engine) -> None:
    for reply in REPLIES:
        chunks = chunks_of(reply)
        types = await stream_into_engine(tts_engine.uri, chunks)
        assert types.count("audio-start") == types.count("audio-stop") == len(chunks), (reply, chunks, types)
        assert types.count("audio-chunk") >= len(chunks)


# -- wyoming-piper, through the daemon's client ----------------------------------------------

@pytest.mark.engine_venv("piper")
async def test_piper_speaks_each_chunk_as_it_arrives(tmp_path) -> None:
    uri = unix_uri(tmp_path, "piper")
    sup = EngineSupervisor(EngineSpec("tts", uri, piper_argv(engine_python("piper"), uri, tmp_path),
                                      ready_timeout_s=60), EventBus(), FAST)
    sup.start()
    try:
        async with sup.use(60):
            for reply in REPLIES[:-1]:  # the bundled voice is English: the CJK reply is not for it
                chunks = chunks_of(reply)
                heard = await asyncio.wait_for(spoken_per_chunk(uri, chunks), 60)
                assert len(heard) == len(chunks) and all(n > 0.2 * 22050 for n in heard), (chunks, heard)
    finally:
        await sup.stop()


async def spoken_per_chunk(uri: str, chunks: list[str]) -> list[int]:
    """Samples spoken for each chunk; asserts the previous chunk was spoken before the next is sent."""
    samples: list[int] = []

    async def texts():
        for chunk in chunks:
            if samples:
                assert samples[-1] > 0, f"nothing spoken for the chunk before {chunk!r}"
            samples.append(0)
            yield chunk

    async for audio in clients.synthesize("tts", uri, texts()):
        samples[-1] += len(audio.data) // audio.width
    return samples
