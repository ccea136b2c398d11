"""The parts that follow the settings: built from them at start, and changed on a reload
(what can change live is applied; what cannot is named as needing a restart)."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Coroutine, Protocol

from daemon.assistant.faces import Llm
from daemon.assistant.turn import Assistant, TurnOptions
from daemon.commands.audio import AudioDevices
from daemon.config.schema import LIVE_SETTINGS, Settings
from daemon.events import EventBus, NoticeEvent
from daemon.llm import backend as llm_backend
from daemon.supervisor.group import Supervisor


_LOG = logging.getLogger(__name__)



def turn_options(settings: Settings) -> TurnOptions:
    return TurnOptions(mode=settings.hotkey.mode, min_press_ms=settings.audio.min_press_ms,
                       language=settings.asr.language, voice=settings.tts.voice,
                       speech_language=settings.tts.language,
                       max_reply_chars=settings.llm.max_reply_chars)


def build_llm(settings: Settings, choice: llm_backend.Choice | None = None,
              supervisor: Supervisor | None = None) -> tuple:
    """The turn's LLM client (the embedded engine's when ``choice``, a daemon/llm/backend.Choice, says so),
    the history and the chunker."""
    from daemon.llm.client import LlmClient
    from daemon.llm.history import History
    from daemon.llm.sentences import SentenceChunker

    llm = settings.llm
    client = choice.client(llm, supervisor) if choice is not None else LlmClient(
        base_url=llm.base_url, api_key=llm.api_key, model=llm.model, extra_params=dict(llm.extra),
        timeout_s=llm.timeout_s, max_retries=llm.max_retries)
    history = History(system_prompt=llm.system_prompt, max_turns=llm.history_turns,
                      idle_reset_s=llm.history_idle_reset_s)
    return client, history, SentenceChunker


class Running(Protocol):
    """The running parts as a reload sees them (daemon/app/parts.py Parts)."""

    @property
    def bus(self) -> EventBus: ...
    @property
    def assistant(self) -> Assistant: ...
    @property
    def audio(self) -> AudioDevices: ...
    def llm_client(self, settings: Settings) -> Llm: ...
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task: ...


def apply_settings(parts: Running, old: Settings, new: Settings) -> None:
    """Apply a reloaded settings file to the running parts; say which changes need a restart."""
    assistant = parts.assistant
    assistant.set_options(**turn_options(new).__dict__)
    if new.llm != old.llm:
        closing = assistant.reconfigure(parts.llm_client(new), new.llm.system_prompt, new.llm.history_turns)
        parts.spawn(closing, "close-old-llm-client")
    for kind in ("input", "output"):
        name = getattr(new.audio, f"{kind}_device")
        if kind in parts.audio.open and name != getattr(old.audio, f"{kind}_device"):
            parts.spawn(parts.audio.switch(kind, name), f"reopen-{kind}")
    pending = [f"[{section}] {key}" for section, key in changed_keys(old, new)
               if (section, key) not in LIVE_SETTINGS]  # the schema's ``live`` settings apply at once
    if pending:
        _LOG.warning("settings changed that apply after a restart: %s", ", ".join(pending))
        parts.bus.publish(NoticeEvent("Restart sisyphus to apply", ", ".join(pending)))


def changed_keys(old: Settings, new: Settings) -> list[tuple[str, str]]:
    changed = []
    for section in old.__dataclass_fields__:
        before, after = getattr(old, section), getattr(new, section)
        changed += [(section, key) for key in before.__dataclass_fields__
                    if getattr(before, key) != getattr(after, key)]
    return changed
