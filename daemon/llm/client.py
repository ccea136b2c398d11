"""Streaming chat completions from any OpenAI-compatible server, with clear errors.

``LlmClient.stream(messages)`` yields the reply's text deltas as they arrive.
Retries (with backoff) happen only before the first token: once the user has
heard part of a reply, starting it over would repeat it, so a failure after the
first token raises ``llm_stream_cut`` and the caller keeps what it has.

Every failure is an ``LlmError`` with a stable code and a sentence that says what
was wrong and what to check. The API key never appears in messages or logs.
Cancelling the consuming task (barge-in) closes the HTTP stream at once, which
is how the server learns to stop generating.

Use it as ``async with contextlib.aclosing(client.stream(msgs)) as deltas:`` so
that breaking out of the loop early also closes the stream.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import TYPE_CHECKING, Any, AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence, cast

import openai

from daemon.backoff import Backoff
from daemon.errors import SisyphusError
from daemon.llm.think import ThinkFilter

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

_LOG = logging.getLogger(__name__)
# Local servers (Ollama, llama.cpp) ignore the key, but the client insists on one.
NO_KEY = "no-key"
RETRYABLE = frozenset({"llm_timeout", "llm_unreachable", "llm_rate_limited", "llm_server_error"})


class LlmError(SisyphusError):
    """A failed LLM request. ``code`` is stable (events, tests); ``text`` is for people."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text, code)

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE


class LlmClient:
    """One OpenAI-compatible endpoint and model; holds one HTTP connection pool."""

    def __init__(self, base_url: str, api_key: str | None, model: str,
                 extra_params: Mapping[str, Any] | None = None, timeout_s: float = 30.0,
                 max_retries: int = 2, backoff: Backoff | None = None, *, strip_think: bool = True,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rand: Callable[[], float] = random.random) -> None:
        """``extra_params`` are merged into the request body (``reasoning_effort``,
        ``temperature``, ...); ``timeout_s`` bounds connecting and every wait for data;
        ``strip_think`` drops ``<think>`` blocks a server left in the reply text."""
        self.base_url, self.model = base_url, model
        self._extra = dict(extra_params or {})
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._backoff = backoff or Backoff()
        self._sleep, self._rand = sleep, rand
        self._strip_think = strip_think
        # max_retries=0: the SDK would also retry after the first token's headers.
        self._client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key or NO_KEY,
                                          timeout=timeout_s, max_retries=0)

    def __repr__(self) -> str:
        return f"LlmClient(base_url={self.base_url!r}, model={self.model!r})"

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None = None,
                     calls: Any = None) -> AsyncIterator[str]:
        """Yield the reply's content deltas; raise ``LlmError`` on failure. With ``tools`` (OpenAI
        function tools), each chunk's ``delta.tool_calls`` go to ``calls.feed`` (daemon.tools.calls)."""
        attempt = 0
        while True:
            started = False
            try:
                # aclosing: when our consumer closes us, the attempt (and its socket) closes too.
                async with contextlib.aclosing(self._attempt(messages, tools, calls)) as deltas:
                    async for delta in deltas:
                        started = True
                        yield delta
                return
            except LlmError as error:
                if started or getattr(calls, "started", False) or not error.retryable or attempt >= self._max_retries:
                    raise
                code = error.code
            delay = self._backoff.delay(attempt, self._rand())
            attempt += 1
            _LOG.warning("LLM request failed (%s); retry %d/%d in %.2fs", code, attempt, self._max_retries, delay)
            await self._sleep(delay)

    async def list_models(self) -> list[str]:
        """The model ids the server offers (a startup check; raises ``LlmError``)."""
        try:
            page = await self._client.models.list()
            return [model.id async for model in page]
        except (openai.OpenAIError, ValueError) as error:
            raise self._map_error(error, mid_stream=False) from error

    async def _attempt(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None = None,
                       calls: Any = None) -> AsyncGenerator[str, None]:
        """One request: yield deltas, map every failure to an ``LlmError``."""
        got_token = False
        extra = {"tools": list(tools)} if tools else {}
        try:
            stream = await self._client.chat.completions.create(
                model=self.model, messages=cast("list[ChatCompletionMessageParam]", list(messages)), stream=True,
                extra_body={**self._extra, **extra} or None)
        except (openai.OpenAIError, ValueError) as error:
            raise self._map_error(error, mid_stream=False) from error
        finish: str | None = None
        think = ThinkFilter() if self._strip_think else None
        try:
            async for chunk in stream:
                text, finish = _content(chunk), _finish_reason(chunk) or finish
                if calls is not None and (tool_calls := _tool_calls(chunk)):
                    calls.feed(tool_calls)
                if think is not None:
                    text = think.feed(text)
                if text:
                    got_token = True
                    yield text
            if think is not None and (tail := think.flush()):
                got_token = True
                yield tail
        except (openai.OpenAIError, ValueError) as error:
            raise self._map_error(error, mid_stream=got_token) from error
        finally:
            await stream.close()  # on cancel too: closing the socket stops the server
        _log_finish(finish, got_token)

    def _map_error(self, error: Exception, mid_stream: bool) -> LlmError:
        if mid_stream:
            return LlmError("llm_stream_cut", f"the LLM reply was cut off mid-stream ({_detail(error)}); "
                            "the text received so far is kept")
        if isinstance(error, openai.APITimeoutError):
            return LlmError("llm_timeout", f"the LLM at {self.base_url} sent nothing for {self._timeout_s:g}s; "
                            "check that the server is not overloaded, or raise [llm] timeout_s")
        if isinstance(error, openai.APIConnectionError):
            return LlmError("llm_unreachable", f"cannot reach the LLM at {self.base_url} ({_detail(error)}); "
                            "check that the server is running (e.g. `ollama serve`) and [llm] base_url")
        if isinstance(error, openai.APIStatusError):
            return self._map_status(error)
        if isinstance(error, openai.APIResponseValidationError) or not isinstance(error, openai.APIError):
            return LlmError("llm_bad_response", f"the LLM at {self.base_url} sent a response that is not "
                            f"OpenAI chat-completions ({_detail(error)}); check [llm] base_url")
        return LlmError("llm_server_error", f"the LLM at {self.base_url} reported an error: {error.message}")

    def _map_status(self, error: openai.APIStatusError) -> LlmError:
        status, said = error.status_code, _server_message(error)
        if status in (401, 403):
            return LlmError("llm_auth", f"the LLM rejected the API key (HTTP {status}: {said}); "
                            "set LLM_API_KEY or [llm] api_key")
        if status == 404:
            return LlmError("llm_model_not_found", f"the LLM at {self.base_url} has no model {self.model!r} "
                            f"(HTTP 404: {said}); check [llm] model (Ollama: `ollama pull {self.model}`) "
                            "and [llm] base_url (most servers want it to end in /v1)")
        if status == 429:
            return LlmError("llm_rate_limited", f"the LLM at {self.base_url} is rate limiting ({said}); "
                            "wait a moment, or check the account's quota")
        if status >= 500:
            return LlmError("llm_server_error", f"the LLM at {self.base_url} failed (HTTP {status}: {said})")
        if status in (400, 422):
            return LlmError("llm_bad_request", f"the LLM rejected the request (HTTP {status}: {said}); "
                            f"check [llm] model and the extra parameters {sorted(self._extra)}")
        return LlmError("llm_bad_response", f"the LLM at {self.base_url} answered HTTP {status}: {said}")


def _content(chunk: Any) -> str:
    """The content delta; reasoning, role-only, tool and usage chunks give ""."""
    choices = getattr(chunk, "choices", None)
    if not choices:
        return ""
    delta = getattr(choices[0], "delta", None)
    content = getattr(delta, "content", None)
    return content if isinstance(content, str) else ""


def _tool_calls(chunk: Any) -> list:
    choices = getattr(chunk, "choices", None)
    return (getattr(getattr(choices[0], "delta", None), "tool_calls", None) or []) if choices else []


def _finish_reason(chunk: Any) -> str | None:
    choices = getattr(chunk, "choices", None)
    return getattr(choices[0], "finish_reason", None) if choices else None


def _log_finish(finish: str | None, got_token: bool) -> None:
    if finish is None:
        _LOG.warning("the LLM stream ended without a finish reason; the reply may be incomplete")
    elif finish == "length":
        _LOG.warning("the LLM reply hit its token limit (finish_reason=length)")
    if not got_token and finish != "tool_calls":
        _LOG.warning("the LLM reply had no text (a reasoning model out of tokens?)")


def _server_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, Mapping) else inner
        if message:
            return str(message)[:300]
    return str(error.message)[:300]


def _detail(error: Exception) -> str:
    cause = error.__cause__ or error.__context__
    return f"{type(error).__name__}: {error}" + (f" <- {cause!r}" if cause else "")
