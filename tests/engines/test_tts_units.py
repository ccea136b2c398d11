"""Pure logic of the TTS engine (no torch, no model): text splitting, the incremental
decoder's bookkeeping, reference validation and the voices store."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engines.protocol.errors import EngineError
from engines.tts import reference
from engines.tts.store import VoiceStore
from engines.tts.streaming import FrameDecoder, split_pcm, to_pcm16
from engines.tts.text import MAX_SENTENCE_CHARS, SentenceStream, max_frames, split_sentences

SPF = 4  # samples per frame in the fake decoder


def causal_decode(frames) -> np.ndarray:
    """A fake causal decoder with 3 frames of memory: frame i sounds as f[i] + f[i-1] + f[i-2]."""
    values = np.asarray(frames, dtype=np.float32)
    mixed = values + np.concatenate([[0], values[:-1]]) + np.concatenate([[0, 0], values[:-2]])
    return np.repeat(mixed, SPF)


# -- text ----------------------------------------------------------------------------------

def test_sentences_split_at_terminators_and_keep_the_tail():
    assert split_sentences("Hello there. How are you? Fine") == ["Hello there.", "How are you?", "Fine"]
    assert split_sentences("你好。今天好吗？") == ["你好。", "今天好吗？"]
    assert split_sentences("Version 1.5 is out.") == ["Version 1.5 is out."]


def stream(*chunks: str) -> list[list[str]]:
    """What the engine speaks after each synthesize-chunk, then at synthesize-stop."""
    pending = SentenceStream()
    return [pending.feed(chunk) for chunk in chunks] + [pending.finish()]


def test_a_chunk_that_ends_where_speech_may_start_is_spoken_at_once():
    # the daemon's chunks: terminator or first clause + the whitespace after it
    assert stream("Sure. ", "The answer is forty two. ", "Is there anything else?") == [
        ["Sure."], ["The answer is forty two."], [], ["Is there anything else?"]]
    assert stream("The weather today is sunny, ", "with a breeze. ") == [
        ["The weather today is sunny,"], ["with a breeze."], []]
    assert stream("Apples, pears, etc. ", "Then more. ") == [["Apples, pears, etc."], ["Then more."], []]


def test_glued_sentences_are_split_and_fragments_wait():
    assert stream("Sure.The answer. Is it? Yes") == [["Sure.The answer.", "Is it?"], ["Yes"]]
    # token-sized chunks (Home Assistant streams LLM deltas): never a word fragment
    assert stream("Hel", "lo there", ".", " How", " are", " you", "?") == [
        [], [], [], ["Hello there."], [], [], [], ["How are you?"]]
    assert stream("I saw Dr. ", "Smith. ") == [[], ["I saw Dr. Smith."], []]
    assert stream("Hi, ", "you. ") == [[], ["Hi, you."], []]  # a one-word clause is not a first chunk


def test_a_full_stop_at_the_end_of_streamed_text_waits_for_what_follows():
    assert stream("Version 1.", "5 is out. ") == [[], ["Version 1.5 is out."], []]
    assert stream("Version 1.") == [[], ["Version 1."]]  # at synthesize-stop nothing follows
    assert stream("你好。", "今天好吗？") == [["你好。"], ["今天好吗？"], []]  # CJK needs no space
    assert stream("你", "好", "。") == [[], [], ["你好。"], []]


def test_an_undecided_run_never_outgrows_the_model():
    said = [p for step in stream(*["词" * 50] * 10) for p in step]
    assert all(0 < len(p) <= MAX_SENTENCE_CHARS for p in said) and "".join(said) == "词" * 500


@given(st.text(alphabet=st.sampled_from("ab .,?!\n你好。"), max_size=2000))
def test_no_piece_overflows_the_model(text):
    pieces = split_sentences(text)
    assert all(0 < len(p) <= MAX_SENTENCE_CHARS for p in pieces)
    if any(ch.isalnum() for ch in text):
        assert "".join(pieces).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")


def test_frame_budget_grows_with_text_and_is_capped():
    assert max_frames("Hi.", 2048) < max_frames("Hi. " * 20, 2048) <= 2048
    assert max_frames("你好" * 10, 2048) > max_frames("ab" * 10, 2048)  # CJK is slower per character
    assert max_frames("word " * 1000, 300) == 300


# -- incremental decoding ---------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 5, 17, 60])
def test_streamed_decode_equals_one_shot_with_enough_left_context(n):
    frames = list(np.random.default_rng(n).normal(size=n))
    decoder = FrameDecoder(causal_decode, schedule=(2, 4, 8), left_context=3, samples_per_frame=SPF)
    chunks = [a for a in map(decoder.push, frames) if a is not None]
    tail = decoder.flush()
    streamed = np.concatenate(chunks + ([tail] if tail is not None else []))
    np.testing.assert_allclose(streamed, causal_decode(frames), rtol=1e-6)


def test_first_chunk_is_small_and_later_ones_larger():
    decoder = FrameDecoder(causal_decode, schedule=(2, 4, 8), left_context=3, samples_per_frame=SPF)
    sizes = [len(a) // SPF for a in map(decoder.push, range(30)) if a is not None]
    assert sizes == [2, 4, 8, 8, 8]
    assert len(decoder.frames) <= 3 + 8  # old frames are forgotten


def test_primed_reference_gives_context_but_no_audio():
    decoder = FrameDecoder(causal_decode, schedule=(2,), left_context=3, samples_per_frame=SPF)
    decoder.prime([5.0, 6.0, 7.0, 8.0])
    audio = decoder.push(1.0)
    assert audio is None
    audio = decoder.push(2.0)
    np.testing.assert_allclose(audio, causal_decode([6, 7, 8, 1, 2])[-2 * SPF:])


def test_pcm_conversion_clips_and_splits_into_small_chunks():
    pcm = to_pcm16(np.array([0.0, 1.0, -1.0, 2.0], dtype=np.float32))
    assert np.frombuffer(pcm, "<i2").tolist() == [0, 32767, -32767, 32767]
    pieces = list(split_pcm(b"\0" * 2 * 2000, 960))
    assert [len(p) for p in pieces] == [1920, 1920, 160]


# -- reference audio ---------------------------------------------------------------------------

def tone(seconds: float, rate: int = 16000, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def pcm(audio: np.ndarray, channels: int = 1) -> bytes:
    return (np.repeat(audio[:, None], channels, axis=1) * 32767).astype("<i2").tobytes()


@pytest.mark.parametrize("payload, rate, width, channels, message", [
    (None, 16000, 2, 1, "no audio payload"),
    (pcm(tone(2.0)), 16000, 2, 1, "2.0 s long"),
    (pcm(tone(31.0)), 16000, 2, 1, "31.0 s long"),
    (pcm(tone(5.0, level=0.001)), 16000, 2, 1, "silent"),
    (pcm(tone(5.0)), 16000, 4, 1, "16-bit"),
    (pcm(tone(5.0)), 16000, 2, 3, "mono or stereo"),
    (pcm(tone(5.0)), 4000, 2, 1, "sample rate"),
    (pcm(tone(5.0))[:-1], 16000, 2, 1, "whole number of frames"),
    (b"\0" * (reference.MAX_BYTES + 2), 48000, 2, 2, "limit"),
])
def test_bad_reference_names_the_problem(payload, rate, width, channels, message):
    with pytest.raises(EngineError) as caught:
        reference.from_pcm(payload, rate, width, channels)
    assert caught.value.code == "bad_voice" and message in caught.value.text


def test_stereo_reference_becomes_mono():
    audio = reference.from_pcm(pcm(tone(4.0), channels=2), 16000, 2, 2)
    assert audio.shape == (64000,)


# -- voices store ------------------------------------------------------------------------------

def test_store_add_list_set_text_remove(tmp_path):
    store = VoiceStore(tmp_path / "voices")
    voice = store.add("anna", tone(4.0), 16000, "Hello there.")
    (voice.path / "prompt-abc.pt").write_bytes(b"cached")
    assert [v.name for v in store.list()] == ["anna"] and store.get("anna").text == "Hello there."
    audio, rate = store.load_audio(voice)
    assert rate == 16000 and abs(len(audio) - 64000) <= 1
    assert store.set_text("anna", "Other.").text == "Other."
    assert not list(voice.path.glob("prompt-*.pt"))  # stale prompt dropped
    store.remove("anna")
    assert store.list() == [] and not any(p.name == "anna" for p in (tmp_path / "voices").iterdir())


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "x" * 49, "név", "a b"])
def test_store_refuses_names_that_could_escape(tmp_path, name):
    with pytest.raises(EngineError) as caught:
        VoiceStore(tmp_path / "voices").add(name, tone(4.0), 16000)
    assert caught.value.code == "bad_voice"
    assert not (tmp_path / "x").exists()


def test_failed_replace_keeps_the_old_voice(tmp_path, monkeypatch):
    store = VoiceStore(tmp_path)
    store.add("keep", tone(4.0), 16000, "original")
    with pytest.raises(EngineError):
        store.add("keep", tone(1.0), 16000, "too short", replace=True)

    def broken_rename(src, dst):
        if ".incoming-" in str(src):
            raise OSError("disk full")
        return real_rename(src, dst)

    real_rename = os.rename
    monkeypatch.setattr(os, "rename", broken_rename)
    with pytest.raises(OSError):
        store.add("keep", tone(5.0), 16000, "new", replace=True)
    monkeypatch.undo()
    assert store.require("keep").text == "original"
    assert [p.name for p in tmp_path.iterdir()] == ["keep"]  # no staging or trash left behind


def test_replace_swaps_atomically(tmp_path):
    store = VoiceStore(tmp_path)
    store.add("v", tone(4.0), 16000, "one")
    with pytest.raises(EngineError):
        store.add("v", tone(4.0), 16000, "two")
    assert store.add("v", tone(6.0), 16000, "two", replace=True).text == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["v"]


def test_unknown_voice_has_its_own_code(tmp_path):
    with pytest.raises(EngineError) as caught:
        VoiceStore(tmp_path).remove("ghost")
    assert caught.value.code == "unknown_voice"


class _Replies:
    """A connection that keeps what the handler sends, as wire events."""

    def __init__(self) -> None:
        self.events: list = []

    async def send(self, event) -> None:
        self.events.append(event.event() if hasattr(event, "event") else event)


class _PresetsOnly:
    """The synthesizer as the voice events see it: presets, no base model (no clone prompt)."""

    base = None

    def presets(self) -> list[str]:
        return ["ryan"]


async def test_voice_events_in_and_out_keep_the_wire_form(tmp_path):
    from wyoming.event import Event

    from engines.tts.engine import TtsEngine, TtsHandler

    replies = _Replies()
    handler = TtsHandler(TtsEngine(_PresetsOnly(), VoiceStore(tmp_path)), replies)
    add = {"name": "anna", "text": " Hello there. ", "rate": 16000, "width": 2, "channels": 1, "replace": False}
    for event in (Event("x-voice-add", add, pcm(tone(4.0))), Event("x-voice-list"),
                  Event("x-voice-set-text", {"name": "anna", "text": "Other."}),
                  Event("x-voice-remove", {"name": "anna"}), Event("x-voice-future", {"name": "anna"})):
        await handler.handle_event(event)
    added, listed, updated, removed = replies.events  # the unknown x-voice event is ignored
    assert (added.type, added.data["name"], added.data["text"]) == ("x-voice-added", "anna", "Hello there.")
    assert listed.type == "x-voices" and listed.data == {"voices": [added.data], "presets": ["ryan"]}
    assert (updated.type, updated.data["text"]) == ("x-voice-updated", "Other.")
    assert (removed.type, removed.data) == ("x-voice-removed", {"name": "anna"})
    with pytest.raises(EngineError, match="rate must be an integer"):
        await handler.handle_event(Event("x-voice-add", {**add, "rate": "16000"}, pcm(tone(4.0))))
    with pytest.raises(EngineError, match="preset speaker"):
        await handler.handle_event(Event("x-voice-add", {**add, "name": "Ryan"}, pcm(tone(4.0))))


# -- graph path: chunk schedule, backend choice, static cache ------------------------------

def test_chunk_schedule_starts_small_then_holds_its_last_size():
    from engines.tts.streaming import GRAPH_SCHEDULE, chunk_frames

    sizes = [chunk_frames(i, GRAPH_SCHEDULE) for i in range(7)]
    assert sizes == [1, 2, 4, 8, 12, 12, 12]
    assert [chunk_frames(i, (2, 4, 8)) for i in range(4)] == [2, 4, 8, 8]
    for bad in ((), (0, 4), (2, -1)):
        with pytest.raises(ValueError, match="schedule"):
            chunk_frames(0, bad)


def test_frame_decoder_follows_the_graph_schedule_with_a_stateful_decode():
    from engines.tts.streaming import GRAPH_SCHEDULE

    calls = []

    def stateful(frames):
        calls.append(len(frames))
        return np.zeros(len(frames) * SPF, dtype=np.float32)

    decoder = FrameDecoder(decode=stateful, schedule=GRAPH_SCHEDULE, left_context=0, samples_per_frame=SPF)
    out = [decoder.push(i) for i in range(30)]
    tail = decoder.flush()
    assert [i for i, audio in enumerate(out) if audio is not None] == [0, 2, 6, 14, 26]
    assert calls == [1, 2, 4, 8, 12, 3] and tail.size == 3 * SPF  # only new frames, never context


def test_graph_schedule_never_runs_dry_up_to_40_ms_per_frame_where_the_old_one_did():
    from engines.tts.streaming import GRAPH_SCHEDULE, playback_gaps

    # measured on an H200: 23-34 ms per frame on the graph path, a few ms per stateful decode
    for frame_ms, decode_ms in ((20, 0), (34, 5), (40, 0)):
        for frames in (1, 7, 30, 125, 600):
            assert playback_gaps(GRAPH_SCHEDULE, frames, frame_ms / 1000, decode_ms / 1000) == []
    old = playback_gaps((1, 4, 8, 12), 125, 0.025)
    assert old and max(old) > 0.015  # the schedule it replaces stalled after the first 80 ms
    assert playback_gaps((1,), 50, 0.081)  # slower than real time always stalls
    assert len(playback_gaps(GRAPH_SCHEDULE, 50, 0.045)) >= 1  # the limit is real: past 40 ms it stalls


def test_the_graph_path_runs_on_sdpa_whatever_attention_was_asked_for(caplog):
    from engines.tts.loader import pick_attention

    with caplog.at_level("WARNING", logger="engines.tts.loader"):
        assert pick_attention("flash_attention_2", graphs=True) == "sdpa"
        assert pick_attention("eager", graphs=True) == "sdpa"
        assert pick_attention("sdpa", graphs=True) == "sdpa"
        assert pick_attention("eager") == "eager"  # the stock path keeps what was asked for
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all("--backend stock" in line for line in lines)


def test_each_model_samples_with_its_own_settings_and_uncapturable_ones_are_refused():
    from engines.tts.loader import pick_path
    from engines.tts.sampling import CannotCapture, predictor_sampling, talker_sampling

    custom = {"temperature": 0.9, "top_k": 50, "subtalker_temperature": 0.9}
    base = {"temperature": 0.7, "top_k": 30, "top_p": 0.8, "subtalker_top_k": 20}
    assert talker_sampling(custom)["temperature"] == 0.9 and talker_sampling(base)["temperature"] == 0.7
    assert talker_sampling(base)["top_p"] == 0.8  # the talker samples outside the graphs: any top_p
    assert talker_sampling(base, greedy=True)["do_sample"] is False
    assert predictor_sampling(custom) == (True, 50, 1.0, 0.9)
    assert predictor_sampling(base) == (True, 20, 1.0, 0.9)
    assert predictor_sampling({"subtalker_top_p": 0.9}, greedy=True)[0] is False  # greedy needs no top-p
    with pytest.raises(CannotCapture, match=r"subtalker_top_p=0.9 .*set it to 1.0, or use --backend stock"):
        predictor_sampling({"subtalker_top_p": 0.9})

    def refuse():
        predictor_sampling({"subtalker_top_p": 0.9})

    path, why = pick_path("auto", "cuda:0", refuse)
    assert path is None and why.startswith("subtalker_top_p=0.9 in the model's generation_config.json")


def test_backend_choice_graph_on_cuda_stock_otherwise_with_the_reason(caplog):
    from engines.tts.loader import pick_path

    built = object()
    assert pick_path("auto", "cuda:0", lambda: built) == (built, "")
    assert pick_path("graph", "cuda", lambda: built) == (built, "")

    def explode():
        raise RuntimeError("operation not permitted when stream is capturing")

    with caplog.at_level("WARNING", logger="engines.tts.loader"):
        path, why = pick_path("auto", "cuda:0", explode)
        assert path is None and why.startswith("CUDA graph capture failed (RuntimeError: operation not permitted")
        assert pick_path("graph", "cpu", explode) == (None, "no CUDA device (--device cpu)")
        assert pick_path("stock", "cuda:0", explode) == (None, "--backend stock")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all(line.startswith("serving through qwen_tts' stock generation: ") for line in lines)


def test_static_cache_holds_the_longest_cjk_sentence_spoken_by_an_icl_clone_with_a_30_s_reference():
    from engines.tts.loader import graph_cache_len

    positions = graph_cache_len(2048, MAX_SENTENCE_CHARS)
    cjk = "\u4e2d" * MAX_SENTENCE_CHARS  # about one token per character, and 3 characters per second
    reference_codes, reference_transcript = 375, 320  # 30 s at 12.5 Hz; 30 s of fast speech in tokens
    needed = MAX_SENTENCE_CHARS + reference_transcript + reference_codes + max_frames(cjk, 2048)
    assert positions % 64 == 0 and needed <= positions < needed + 128
    assert graph_cache_len(100, MAX_SENTENCE_CHARS) < positions  # a smaller frame cap, a smaller cache
