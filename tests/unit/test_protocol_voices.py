"""The typed x-voice-* events: exact wire form, round trips, tolerant readers; a server that never answers."""
from __future__ import annotations

import asyncio

import pytest
from wyoming.event import Event

from daemon.errors import EngineRequestError
from daemon.speech import voices
from engines.protocol import voices as v


def test_voice_add_wire_form_and_round_trip():
    add = v.VoiceAdd("carol", b"\x01\x00" * 4, "Hello.", 22050, 2, 1)
    event = add.event()
    assert (event.type, event.payload) == ("x-voice-add", b"\x01\x00" * 4)
    assert event.data == {"name": "carol", "text": "Hello.", "rate": 22050, "width": 2, "channels": 1,
                          "replace": False}
    assert v.VoiceAdd.from_event(event) == add and v.VoiceAdd.is_type("x-voice-add")


def test_replies_round_trip_and_readers_tolerate_junk():
    done = v.VoiceDone.from_event(Event("x-voice-removed", {"name": "carol"}))
    assert done == v.VoiceDone(v.REMOVED, {"name": "carol"}) and v.VoiceDone.is_type("x-voice-updated")
    listed = v.Voices.from_event(Event("x-voices", {"voices": [{"name": "a", "new_field": 1}, "junk", {}],
                                                    "presets": ["alto"], "future": True}))
    assert listed == v.Voices([{"name": "a", "new_field": 1}], ["alto"])
    assert v.Voices.from_event(listed.event()) == listed
    assert v.VoiceRemove.from_event(v.VoiceRemove("x").event()) == v.VoiceRemove("x")
    assert v.VoiceSetText.from_event(v.VoiceSetText("x", "Hi.").event()) == v.VoiceSetText("x", "Hi.")
    assert v.VoiceList.from_event(v.VoiceList().event()) == v.VoiceList()


def test_voice_names():
    assert v.NAME_RE.match("my-voice_2") and not v.NAME_RE.match("../etc") and not v.NAME_RE.match("-x")
    assert not v.NAME_RE.match("a" * 49)


def test_our_tts_engine_answers_every_request_type():
    from engines.tts.engine import VOICE_REQUESTS  # each reply's wire form: tests/engines/test_tts_units.py

    assert set(VOICE_REQUESTS) == {v.VoiceAdd, v.VoiceList, v.VoiceRemove, v.VoiceSetText}


async def test_an_engine_that_never_answers_a_voice_request_is_given_up_on_saying_why(tmp_path, monkeypatch):
    # wyoming-piper reads x-voice-* events and answers nothing: the request must not wait for ever.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads everything, answers nothing

    server = await asyncio.start_unix_server(silent, str(tmp_path / "tts.sock"))
    monkeypatch.setattr(voices, "OTHER_TIMEOUT_S", 0.3)
    try:
        with pytest.raises(EngineRequestError) as info:
            await voices.remove_voice(f"unix://{tmp_path / 'tts.sock'}", "carol")
    finally:
        server.close()
    assert info.value.code == "engine_timeout"
    assert "did not answer x-voice-remove within 0.3 s; cloned voices need sisyphus' own TTS engine" in \
        info.value.text
