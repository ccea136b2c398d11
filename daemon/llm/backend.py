"""Which LLM a turn uses: the server at ``[llm] base_url`` (external) or the embedded engine.

``[llm] backend``: ``external`` always uses base_url; ``embedded`` always runs the embedded
llama.cpp engine; ``auto`` (the default) asks base_url once at start (GET /models, a few
seconds at most) and uses it when it answers, else the embedded engine, and says which, once,
in the log with the one line that switches; the embedded engine standing in is also a desktop
notice (the user's own server answering is the normal start and shows nothing). A bad ``embedded_model`` when the
embedded engine is chosen stops the start with its reason (``ModelError``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

from daemon.config.schema import LlmSettings
from daemon.events import EventBus, NoticeEvent

from . import embedded
from .client import LlmClient, LlmError

_LOG = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 3.0
TO_EXTERNAL = 'set backend = "external" under [llm] in the settings file'
TO_EMBEDDED = 'set backend = "embedded" under [llm] in the settings file'

Probe = Callable[[LlmSettings], Awaitable[bool]]


@dataclass(frozen=True)
class Choice:
    backend: str  # "external" | "embedded"
    why: str
    base_url: str
    model: str
    specs: dict = field(default_factory=dict)  # the embedded engine's EngineSpec by name, or nothing
    notice: tuple[str, str] | None = None  # (title, text) said once at start
    api_key: str = field(default="", repr=False)  # the embedded engine's per-run key (never in status)

    @property
    def summary(self) -> str:
        where = "the embedded engine" if self.backend == "embedded" else "an external server"
        return f"{where}, model {self.model} at {self.base_url} ({self.why})"

    def status(self) -> dict:
        return {"backend": self.backend, "model": self.model, "base_url": self.base_url, "why": self.why,
                "summary": self.summary}

    def client(self, llm: LlmSettings, supervisor) -> LlmClient | embedded.EngineLlm:
        """The turn's LLM client for these settings (built again when the settings are reloaded)."""
        if self.backend == "external":
            return LlmClient(base_url=llm.base_url, api_key=llm.api_key, model=llm.model,
                             extra_params=dict(llm.extra), timeout_s=llm.timeout_s, max_retries=llm.max_retries)
        client = LlmClient(base_url=self.base_url, api_key=self.api_key, model=self.model, extra_params=dict(llm.extra),
                           timeout_s=llm.timeout_s, max_retries=llm.max_retries)
        return embedded.EngineLlm(supervisor, client, llm.embedded_ready_timeout_s)


async def answers(llm: LlmSettings, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True when a server answers at base_url (a rejected key or a missing /models is a server too)."""
    client = LlmClient(llm.base_url, llm.api_key or None, llm.model, timeout_s=timeout_s, max_retries=0)
    try:
        await client.list_models()
        return True
    except LlmError as exc:
        return exc.code not in ("llm_unreachable", "llm_timeout")
    finally:
        await client.aclose()


async def choose(llm: LlmSettings, runtime_dir: Path, data_dir: Path, probe: Probe = answers) -> Choice:
    """The backend for this run; ModelError when the embedded engine is chosen but cannot load its model."""
    if llm.backend == "external":
        return Choice("external", "[llm] backend = \"external\"", llm.base_url, llm.model)
    if llm.backend == "embedded":
        return _embedded(llm, runtime_dir, data_dir, "[llm] backend = \"embedded\"", None)
    if await probe(llm):
        why = f"backend auto: the server at {llm.base_url} answered at start"
        return Choice("external", why, llm.base_url, llm.model,
                      notice=("Using your LLM server", f"{why}; to use the embedded engine instead, {TO_EMBEDDED}"))
    why = f"backend auto: no LLM answered at {llm.base_url} at start"
    if not embedded.model_setting(llm)[1] and not embedded.venv_python(data_dir).exists():
        # Never set up: keep the external server (the LLM check says how to start it) and say how to embed.
        return Choice("external", f"{why}, and the embedded engine is not set up (`{embedded.SETUP}`)",
                      llm.base_url, llm.model)
    return _embedded(llm, runtime_dir, data_dir, why,
                     f"to use {llm.base_url} once it runs, start it before sisyphus, or {TO_EXTERNAL}")


def _embedded(llm: LlmSettings, runtime_dir: Path, data_dir: Path, why: str, switch: str | None) -> Choice:
    spec, url, name, key = embedded.spec(llm, runtime_dir, data_dir)
    configured = bool(embedded.model_setting(llm)[1])
    text = f"{why}: using the embedded engine ({name})"
    if not configured:
        text += f". {embedded.TINY_WARNING}"
    if switch:
        text += f". {switch[0].upper()}{switch[1:]}"
    title = "Using the embedded LLM" if configured else "Using the embedded test LLM"
    return Choice("embedded", why, url, name, {embedded.ENGINE: spec},
                  (title, text) if switch or not configured else None, key)


def announce(choice: Choice, bus: EventBus) -> None:
    """Say the choice once: always in the log, and as a desktop notice when the turns do not use the
    user's own server (the embedded engine stands in); the normal start shows nothing."""
    _LOG.info("LLM: %s", choice.summary)
    if choice.notice is None:
        return
    if choice.backend == "external":  # the user's own server answering is the normal start: said, not shown
        _LOG.info("%s", choice.notice[1])
        return
    _LOG.warning("%s", choice.notice[1])
    bus.publish(NoticeEvent(*choice.notice))
