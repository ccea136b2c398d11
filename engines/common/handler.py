"""The engine object (shared model state) and the per-connection handler.

One ``Handler`` per connection holds the state of the request in flight and clears
it in ``reset()``. Model work never runs on the event loop: ``run_model`` and
``stream_model`` run it in a worker thread with a ``CancelToken`` the model code
checks between steps; a closed connection sets the token, so generation stops
within one step and the engine lock is released for the next request.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import threading
from abc import ABC, abstractmethod
from typing import Any, AsyncGenerator, Callable

from wyoming.event import Event, Eventable
from wyoming.info import Info

from .errors import Cancelled
from .wire import write_event

_LOG = logging.getLogger(__name__)
_DONE = object()


class CancelToken:
    """Set when the client goes away; model code calls ``check()`` between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()


class Engine(ABC):
    """Loaded model(s), shared by all connections. One model call runs at a time."""

    def __init__(self) -> None:
        self.model_lock = asyncio.Lock()

    @abstractmethod
    def info(self) -> Info:
        """The ``info`` event describing this engine."""

    @abstractmethod
    def new_handler(self, connection: "Connection") -> "Handler":
        """A fresh handler for one client connection."""

    def on_cuda_oom(self) -> None:
        """Free what can be freed after a CUDA out-of-memory error (engines override)."""

    def close(self) -> None:
        """Release resources at shutdown."""


class Connection:
    """The writing side of one client connection."""

    def __init__(self, writer: asyncio.StreamWriter, peer: str = "") -> None:
        self.writer = writer
        self.peer = peer

    async def send(self, event: Event | Eventable) -> None:
        if isinstance(event, Eventable):
            event = event.event()
        await write_event(self.writer, event)


class Handler(ABC):
    """Per-connection request state. ``handle_event`` sees every event but ``describe``."""

    def __init__(self, engine: Engine, connection: Connection) -> None:
        self.engine = engine
        self.connection = connection
        self.token = CancelToken()

    async def send(self, event: Event | Eventable) -> None:
        await self.connection.send(event)

    @abstractmethod
    async def handle_event(self, event: Event) -> None:
        """Handle one event; raise EngineError for a client-visible failure."""

    def reset(self) -> None:
        """Forget the request in flight (after an answer, an error or a cancel)."""
        self.token = CancelToken()

    def cancel(self) -> None:
        self.token.cancel()

    async def run_model(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, token=..., **kwargs)`` in a worker thread under the engine lock."""
        token = self.token
        call = functools.partial(fn, *args, token=token, **kwargs)
        async with self.engine.model_lock:
            future = asyncio.get_running_loop().run_in_executor(None, call)
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                token.cancel()
                await _settle(future)
                raise

    async def stream_model(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        """Run ``fn(emit, *args, token=..., **kwargs)`` in a thread; yield each emitted item at once.

        Iterate it inside ``contextlib.aclosing(...)`` so that leaving the loop early (an
        exception, a cancel) stops the thread and releases the engine lock at once."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        token = self.token

        def emit(item: Any) -> None:
            token.check()
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def body() -> None:
            try:
                fn(emit, *args, token=token, **kwargs)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        async with self.engine.model_lock:
            future = loop.run_in_executor(None, body)
            try:
                while (item := await queue.get()) is not _DONE:
                    yield item
                await asyncio.shield(future)  # re-raise the model's exception, if any
            finally:
                if not future.done():
                    token.cancel()
                    await _settle(future)


async def _settle(future: asyncio.Future) -> None:
    """Wait for a cancelled worker thread to notice its token and return.

    The engine lock must stay held until the thread really stops, even if this task is
    cancelled again meanwhile (a second barge-in): otherwise two generations would run at
    once. A cancel that arrives while waiting is re-raised once the thread has finished.
    """
    interrupted = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            interrupted = not future.done() or interrupted
        except Exception:
            break
    if not future.cancelled() and future.done():
        error = future.exception()
        if error is not None and not isinstance(error, Cancelled):
            _LOG.debug("cancelled model call ended with an error: %r", error)
    if interrupted:
        raise asyncio.CancelledError()
