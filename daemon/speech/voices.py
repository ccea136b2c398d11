"""Requests for our TTS engine's voice management (the typed ``x-voice-*`` events)."""
from __future__ import annotations

import asyncio

from wyoming.event import Eventable

from daemon.errors import EngineRequestError
from engines.protocol.voices import VoiceAdd, VoiceDone, VoiceList, VoiceRemove, Voices

from .clients import Connection
from .offer import CLONING_NEEDS

ENGINE = "tts"
# Seconds to wait for the answer: cloning computes the speaker's features on the model.
ADD_TIMEOUT_S, OTHER_TIMEOUT_S = 90.0, 20.0


async def add_voice(uri: str, name: str, pcm: bytes, text: str, rate: int = 16000) -> dict:
    """Clone ``name`` from 16-bit mono ``pcm`` and the words said in it; the engine's description."""
    reply = await _request(uri, VoiceAdd(name, pcm, text, rate, 2, 1), VoiceDone, ADD_TIMEOUT_S)
    return reply.voice


async def remove_voice(uri: str, name: str) -> None:
    await _request(uri, VoiceRemove(name), VoiceDone)


async def list_voices(uri: str) -> Voices:
    return await _request(uri, VoiceList(), Voices)


async def _request(uri: str, request: Eventable, reply_type, timeout: float | None = None):
    timeout = OTHER_TIMEOUT_S if timeout is None else timeout

    async def ask():
        async with await Connection.open(ENGINE, uri) as conn:
            await conn.send(request)
            while not reply_type.is_type((event := await conn.recv()).type):
                pass  # an engine may interleave other events; an error event raises in recv
            return reply_type.from_event(event)

    try:
        return await asyncio.wait_for(ask(), timeout)
    except asyncio.TimeoutError:  # a Wyoming server that is not ours ignores x-voice-* events
        kind = request.event().type
        raise EngineRequestError(f"the tts engine did not answer {kind} within {timeout:g} s; {CLONING_NEEDS}",
                                 "engine_timeout") from None
