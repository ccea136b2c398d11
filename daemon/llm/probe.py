"""At start, one quick look at the LLM endpoint (GET {base_url}/models, with the key), run in the
background so readiness never waits for it. When the first spoken turn would fail, say once,
in the log and as a notification, what to run or set. A server that answers but lists no
models, or has no /models (HTTP 404), is taken as working: the turn itself will tell.
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from daemon.config.schema import LlmSettings
from daemon.events import EventBus, NoticeEvent

from .client import LlmClient, LlmError

_LOG = logging.getLogger(__name__)
OLLAMA_PORT = 11434
EMBEDDED_HINT = "; or run `sisyphus setup --llm embedded` for the embedded engine (used when none answers at start)"
TIMEOUT_S = 3.0


async def check_llm(llm: LlmSettings, bus: EventBus, timeout_s: float = TIMEOUT_S) -> str | None:
    """The advice given (logged and published as a NoticeEvent), or None when the endpoint works."""
    client = LlmClient(llm.base_url, llm.api_key or None, llm.model, timeout_s=timeout_s, max_retries=0)
    try:
        models = await client.list_models()
        advice = None if not models or llm.model in models else missing_model(llm, models)
    except LlmError as exc:
        advice = advise(llm, exc)
    finally:
        await client.aclose()
    if advice is None:
        _LOG.info("the LLM at %s answers", llm.base_url)
        return None
    _LOG.warning("%s", advice)
    bus.publish(NoticeEvent("The assistant has no LLM to answer", advice))
    return advice


def advise(llm: LlmSettings, exc: LlmError) -> str | None:
    if exc.code == "llm_model_not_found":  # 404 on /models: a server without the listing; it answers
        return None
    if exc.code == "llm_auth":
        return (f"The LLM at {llm.base_url} rejected the API key: set LLM_API_KEY (or [llm] api_key) "
                "to a key it accepts")
    if exc.code in ("llm_unreachable", "llm_timeout"):
        return (f"No LLM answers at {llm.base_url}: {how_to_start(llm)} or set [llm] base_url / OPENAI_BASE_URL"
                f"{EMBEDDED_HINT if llm.backend == 'auto' else ''}")
    return f"The LLM at {llm.base_url} does not work: {exc.text}"


def missing_model(llm: LlmSettings, models: list[str]) -> str:
    offered = ", ".join(models[:5]) + (", ..." if len(models) > 5 else "")
    pull = f"run `ollama pull {llm.model}`, or " if is_ollama(llm.base_url) else ""
    return f"The LLM at {llm.base_url} has no model {llm.model!r}: {pull}set [llm] model to one it offers ({offered})"


def how_to_start(llm: LlmSettings) -> str:
    if is_ollama(llm.base_url):
        return f"start Ollama (`ollama serve`, then `ollama pull {llm.model}`)"
    return "start the server"


def is_ollama(base_url: str) -> bool:
    return urlsplit(base_url).port == OLLAMA_PORT
