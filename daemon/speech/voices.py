"""Requests for our TTS engine's voice management (the typed ``x-voice-*`` events)."""
from __future__ import annotations

from wyoming.event import Eventable

from engines.protocol.voices import VoiceAdd, VoiceDone, VoiceList, VoiceRemove, Voices

from .clients import Connection

ENGINE = "tts"


async def add_voice(uri: str, name: str, pcm: bytes, text: str, rate: int = 16000) -> dict:
    """Clone ``name`` from 16-bit mono ``pcm`` and the words said in it; the engine's description."""
    reply = await _request(uri, VoiceAdd(name, pcm, text, rate, 2, 1), VoiceDone)
    return reply.voice


async def remove_voice(uri: str, name: str) -> None:
    await _request(uri, VoiceRemove(name), VoiceDone)


async def list_voices(uri: str) -> Voices:
    return await _request(uri, VoiceList(), Voices)


async def _request(uri: str, request: Eventable, reply_type):
    async with await Connection.open(ENGINE, uri) as conn:
        await conn.send(request)
        while not reply_type.is_type((event := await conn.recv()).type):
            pass  # an engine may interleave other events; an error event raises in recv
        return reply_type.from_event(event)
