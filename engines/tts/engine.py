"""The TTS engine object and its per-connection handler (Wyoming TTS + x-voice-* events).

Plain ``synthesize{text}`` answers one audio-start/chunks/audio-stop for the whole
text. Streaming input (``synthesize-start`` / ``synthesize-chunk``... / ``synthesize-stop``)
speaks each piece as soon as it is complete by the shared chunking rules
(engines.protocol.chunking: a client chunk that ends where speech may start is spoken
at once), with audio-start/stop per piece, then ``synthesize-stopped``; the
``synthesize`` a streaming client also sends for old servers is ignored, as
wyoming-piper does.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Attribution, Info, TtsProgram, TtsVoice
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from engines.protocol.errors import BAD_VOICE, Cancelled, EngineError
from engines.protocol.languages import CODES
from engines.protocol.version import VERSION as SISYPHUS_VERSION
from engines.protocol.voices import (ADDED, OWN_PROGRAM_PREFIX, REMOVED, UPDATED, VoiceAdd, VoiceDone, VoiceList,
                                     VoiceRemove, Voices, VoiceSetText)
from engines.common.handler import Connection, Engine, Handler

from . import reference
from .catalog import NATIVE, Choice
from .store import VoiceStore, check_name
from .streaming import SAMPLE_RATE, split_pcm, to_pcm16
from .text import SentenceStream, split_sentences

if TYPE_CHECKING:  # the backend imports torch; the handler is tested without it
    from .backend import Synthesizer

_LOG = logging.getLogger(__name__)
CHUNK_SAMPLES = 960  # 40 ms per audio-chunk event
ATTRIBUTION = Attribution(name="Qwen (Alibaba)", url="https://github.com/QwenLM/Qwen3-TTS")


class TtsEngine(Engine):
    def __init__(self, synth: Synthesizer, store: VoiceStore) -> None:
        super().__init__()
        self.synth = synth
        self.store = store

    def info(self) -> Info:
        codes = [CODES.get(lang, lang) for lang in self.synth.languages()]
        voices = [self._preset(name, codes) for name in self.synth.presets()]
        if self.synth.base is not None:
            voices += [TtsVoice(name=v.name, description=f"cloned voice {v.name}", attribution=ATTRIBUTION,
                                installed=True, version=None, languages=codes) for v in self.store.list()]
        program = TtsProgram(name=f"{OWN_PROGRAM_PREFIX}qwen3-tts", description=describe_state(self.synth.memory()),
                             attribution=ATTRIBUTION, installed=True, version=SISYPHUS_VERSION, voices=voices,
                             supports_synthesize_streaming=True)
        return Info(tts=[program])

    @staticmethod
    def _preset(name: str, codes: list[str]) -> TtsVoice:
        native = NATIVE.get(name)
        languages = ([native] if native else []) + [c for c in codes if c != native]
        return TtsVoice(name=name, description=f"{name.replace('_', ' ').title()} (preset speaker)",
                        attribution=ATTRIBUTION, installed=True, version=None, languages=languages)

    def new_handler(self, connection: Connection) -> Handler:
        return TtsHandler(self, connection)

    def on_cuda_oom(self) -> None:
        self.synth.free_memory()


class TtsHandler(Handler):
    engine: TtsEngine

    def __init__(self, engine: TtsEngine, connection: Connection) -> None:
        super().__init__(engine, connection)
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.streaming = False
        self.pending = SentenceStream()
        self.choice: Choice | None = None
        self.language: str | None = None

    async def handle_event(self, event: Event) -> None:
        if Synthesize.is_type(event.type):
            if not self.streaming:  # in streaming mode it only duplicates the chunks
                await self._synthesize(Synthesize.from_event(event))
        elif SynthesizeStart.is_type(event.type):
            await self._start(SynthesizeStart.from_event(event))
        elif SynthesizeChunk.is_type(event.type) and self.streaming:
            for sentence in self.pending.feed(SynthesizeChunk.from_event(event).text):
                await self._sentence(sentence)
        elif SynthesizeStop.is_type(event.type) and self.streaming:
            for sentence in self.pending.finish():
                await self._sentence(sentence)
            await self.send(SynthesizeStopped())
            self.reset()
        else:
            for request, answer in VOICE_REQUESTS.items():
                if request.is_type(event.type):
                    await answer(self, request.from_event(event))
        # anything else is ignorable by protocol rule

    # -- synthesis ---------------------------------------------------------------------------
    def _voice(self, voice: Any) -> None:
        self.choice = self.engine.synth.choose(voice.name if voice else None)
        self.language = voice.language if voice else None

    async def _synthesize(self, request: Synthesize) -> None:
        self._voice(request.voice)
        await self.send(AudioStart(rate=SAMPLE_RATE, width=2, channels=1))
        for sentence in split_sentences(request.text):
            await self._stream(sentence)
        await self.send(AudioStop())
        self.reset()

    async def _start(self, request: SynthesizeStart) -> None:
        self.reset()
        self._voice(request.voice)
        self.streaming = True

    async def _sentence(self, sentence: str) -> None:
        await self.send(AudioStart(rate=SAMPLE_RATE, width=2, channels=1))
        await self._stream(sentence)
        await self.send(AudioStop())

    async def _stream(self, sentence: str) -> None:
        # aclosing: however we leave the loop (hang-up, cancel), the generator's cleanup runs
        # now, stopping the model thread and releasing the model lock for the next request.
        stream = self.stream_model(self.engine.synth.speak, sentence, self.choice, self.language)
        async with contextlib.aclosing(stream):
            async for audio in stream:
                for piece in split_pcm(to_pcm16(audio), CHUNK_SAMPLES):
                    await self._send_audio(piece)

    async def _send_audio(self, pcm: bytes) -> None:
        """A client that hangs up mid-stream cancelled its request; that is not an engine error."""
        try:
            await self.send(AudioChunk(rate=SAMPLE_RATE, width=2, channels=1, audio=pcm))
        except (ConnectionError, OSError):
            self.token.cancel()
            raise Cancelled() from None

    # -- voice management (x-voice-* events, engines.protocol.voices) -------------------------
    async def _voice_add(self, add: VoiceAdd) -> None:
        name = check_name(add.name)
        if name.lower() in self.engine.synth.presets():
            raise EngineError(f"{name!r} is a preset speaker; pick another name for a cloned voice", BAD_VOICE)
        rate, width, channels = (_int(key, value) for key, value in
                                 (("rate", add.rate), ("width", add.width), ("channels", add.channels)))
        audio = reference.from_pcm(add.audio, rate, width, channels)
        text, synth = add.text.strip(), self.engine.synth
        # The clone prompt is computed before anything is stored: a reference the model
        # cannot use fails the add with the voices dir untouched.
        prompt = await self.run_model(synth.make_prompt, audio, rate, text) if synth.base is not None else None
        voice = await asyncio.to_thread(self.engine.store.add, name, audio, rate, text, add.replace)
        if prompt is not None:
            await asyncio.to_thread(synth.save_prompt, voice, prompt)
        await self.send(VoiceDone(ADDED, voice.describe()))

    async def _voice_list(self, _request: VoiceList) -> None:
        voices = await asyncio.to_thread(self.engine.store.list)
        await self.send(Voices([v.describe() for v in voices], self.engine.synth.presets()))

    async def _voice_remove(self, remove: VoiceRemove) -> None:
        name = check_name(remove.name)
        await asyncio.to_thread(self.engine.store.remove, name)
        await self.send(VoiceDone(REMOVED, {"name": name}))

    async def _voice_set_text(self, request: VoiceSetText) -> None:
        name = check_name(request.name)
        voice = await asyncio.to_thread(self.engine.store.set_text, name, request.text)
        await self.send(VoiceDone(UPDATED, voice.describe()))


def describe_state(state: dict) -> str:
    """The program description in ``info``: which path serves, GPU memory now and at peak, swaps.

    The daemon probes ``describe`` for health, so its ``status`` shows this line as it is.
    """
    parts = [f"{state['path']} path"]
    if "gpu_gib" in state:
        parts.append(f"GPU {state['gpu_gib']:.2f} GiB at rest, {state['gpu_peak_gib']:.2f} GiB peak")
    if "swaps" in state:
        parts.append(f"{state['swaps']} model swaps, last {state['last_swap_ms']} ms")
    if state.get("why_stock"):
        parts.append(f"stock because: {state['why_stock']}")
    return "Qwen3-TTS-12Hz, streaming (" + "; ".join(parts) + ")"


def _int(key: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise EngineError(f"x-voice-add: {key} must be an integer, got {value!r}", BAD_VOICE)
    return value


VOICE_REQUESTS: dict[Any, Any] = {  # each typed request and the handler method that answers it
    VoiceAdd: TtsHandler._voice_add,
    VoiceList: TtsHandler._voice_list,
    VoiceRemove: TtsHandler._voice_remove,
    VoiceSetText: TtsHandler._voice_set_text,
}
