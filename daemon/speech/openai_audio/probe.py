"""Is an OpenAI-compatible speech server there, and what does it offer? The supervisor's ``describe``.

``GET {uri}/models`` (the OpenAI list; vLLM, Speaches, our engines) answers; a TTS server's
voices come from ``GET {uri}/audio/voices``, which is not an OpenAI endpoint, so every server
shapes it its own way (vLLM-Omni: names plus ``uploaded_voices``; Speaches, Kokoro-FastAPI:
objects with ``id``/``name``; some a bare list). A server with no ``/models`` is probed with a
GET on its speech path: 405 (POST only) means it is there, 404 that ``uri`` names no such API.
The answer is a Wyoming ``Info``, the shape every other part of the daemon reads.
"""
from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from wyoming.info import AsrModel, AsrProgram, Attribution, Info, TtsProgram, TtsVoice

from daemon.errors import EngineRequestError, EngineUnavailable

from . import http
from .errors import HttpStatusError
from .options import HttpOptions

PROGRAM = "openai-audio"
ABOUT = Attribution("OpenAI audio API", "https://platform.openai.com/docs/api-reference/audio")
# The API's documented voices: offered when a server lists none (OpenAI itself has no GET /audio/voices).
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
                 "marin", "cedar")
ABSENT = (404, 405)


async def describe(name: str, uri: str, timeout: float, options: HttpOptions) -> Info:
    options = HttpOptions(options.model, options.api_key, timeout, min(timeout, options.connect_timeout_s))
    try:
        return await asyncio.wait_for(_describe(name, uri, options), timeout)
    except asyncio.TimeoutError:
        raise EngineUnavailable(f"{name} engine at {uri} did not answer within {timeout:.1f} s") from None
    except EngineRequestError as exc:
        if exc.code == "engine_timeout":
            raise EngineUnavailable(f"{name} engine at {uri} did not answer within {timeout:.1f} s") from None
        raise


async def _describe(name: str, uri: str, options: HttpOptions) -> Info:
    speech_path = "/audio/speech" if name == "tts" else "/audio/transcriptions"
    async with http.session(options) as session:
        models = await _get(session, name, uri, "/models")
        voices = await _get(session, name, uri, "/audio/voices") if name == "tts" else None
        if models is None and voices is None:
            await _check_path(session, name, uri, speech_path)
    served = model_ids(models)
    if options.model and served and options.model not in served:
        raise EngineRequestError(f"{name} engine at {uri} serves {', '.join(served[:10])}, not {options.model!r}; "
                                 f"set [{name}] model to one of them (or leave it empty)", "engine_not_found")
    model = options.model or (served[0] if served else "")
    about = f"OpenAI audio API at {uri}" + (f", model {model}" if model else "")
    if name == "tts":
        return Info(tts=[TtsProgram(PROGRAM, ABOUT, True, about, None, tts_voices(voices))])
    asr_model = AsrModel(model or "default", ABOUT, True, about, None, [])
    return Info(asr=[AsrProgram(PROGRAM, ABOUT, True, about, None, [asr_model])])


async def _get(session: aiohttp.ClientSession, name: str, uri: str, path: str) -> Any:
    """The decoded JSON at ``path``; None when the server has no such endpoint."""
    try:
        async with http.request(session, name, uri, "GET", path) as response:
            try:
                return await response.json(content_type=None)
            except ValueError:
                raise EngineRequestError(f"{name} engine at {http.url(uri, path)} answered something that is not "
                                         "JSON; is this an OpenAI-compatible server?", "engine_protocol") from None
    except HttpStatusError as exc:
        if exc.status in ABSENT:
            return None
        raise


async def _check_path(session: aiohttp.ClientSession, name: str, uri: str, path: str) -> None:
    try:
        async with http.request(session, name, uri, "GET", path):
            return
    except HttpStatusError as exc:
        if exc.status == 405:
            return  # there, and POST only
        if exc.status == 404:
            raise EngineRequestError(f"{name} engine: no OpenAI audio API at {uri} (GET /models and {path} "
                                     f"answered 404); check [{name}] uri, e.g. http://gpu-box:8091/v1",
                                     "engine_not_found") from None
        raise


def model_ids(value: Any) -> list[str]:
    """The ids in an OpenAI model list ``{"data": [{"id": ...}]}`` (or a bare list)."""
    items = value.get("data", value.get("models", [])) if isinstance(value, dict) else value
    if not isinstance(items, list):
        return []
    ids = [item.get("id") or item.get("name") if isinstance(item, dict) else item for item in items]
    return [i for i in ids if isinstance(i, str) and i]


def tts_voices(value: Any) -> list[TtsVoice]:
    """The voices of any known ``/audio/voices`` shape; OpenAI's names when the server lists none."""
    if value is None:
        return [_voice(n, "an OpenAI voice name (the server lists no voices)", []) for n in OPENAI_VOICES]
    if isinstance(value, dict):
        items = _list(value.get("voices")) + [{**v, "uploaded": True} if isinstance(v, dict) else v
                                              for v in _list(value.get("uploaded_voices"))]
    else:
        items = _list(value)
    voices: dict[str, TtsVoice] = {}
    for item in items:
        entry = _entry(item)
        if entry and entry.name not in voices:
            voices[entry.name] = entry
    return list(voices.values())


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _entry(item: Any) -> TtsVoice | None:
    if isinstance(item, str):
        return _voice(item, "", []) if item else None
    if not isinstance(item, dict):
        return None
    name = next((item[k] for k in ("id", "voice_id", "name") if isinstance(item.get(k), str) and item[k]), None)
    if name is None:
        return None
    label = item.get("name") if isinstance(item.get("name"), str) and item["name"] != name else ""
    details = [label, item.get("description") or item.get("speaker_description") or "", item.get("gender") or ""]
    if item.get("uploaded"):
        details.insert(0, "cloned, uploaded to the server")
    language = item.get("language") or item.get("languages") or []
    languages = [language] if isinstance(language, str) else [x for x in _list(language) if isinstance(x, str)]
    return _voice(name, ", ".join(d for d in details if isinstance(d, str) and d), languages)


def _voice(name: str, description: str, languages: list[str]) -> TtsVoice:
    return TtsVoice(name, ABOUT, True, description or None, None, languages)
