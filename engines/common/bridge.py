"""One Wyoming request run on an engine in this process, without a socket.

The OpenAI-audio HTTP side (engines.common.http) turns an HTTP request into the Wyoming
events a client would send, hands them to a fresh handler of the same engine (the same
model, lock, limits and error handling as the Wyoming server: ``handle_request``), and
reads back the events the handler sends. Leaving early (the HTTP client went away, its
handler task was cancelled) cancels the handler's token, which stops the model thread
within one step and releases the model lock, exactly as a closed Wyoming connection does.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncGenerator, Sequence

from wyoming.event import Event, Eventable

from .handler import Connection, Engine
from .server import handle_request

_END = object()


class _Collect(Connection):
    """A connection whose writes land in a queue instead of a socket."""

    def __init__(self, peer: str) -> None:
        super().__init__(writer=None, peer=peer)  # type: ignore[arg-type]  # never written to
        self.queue: asyncio.Queue = asyncio.Queue()

    async def send(self, event: Event | Eventable) -> None:
        self.queue.put_nowait(event.event() if isinstance(event, Eventable) else event)


async def run_request(engine: Engine, events: Sequence[Event], peer: str = "http") -> AsyncGenerator[Event, None]:
    """Feed ``events`` to a new handler in order; yield what it sends, as it sends it.

    Use inside ``contextlib.aclosing``: closing the iterator before the end cancels the request."""
    connection = _Collect(peer)
    handler = engine.new_handler(connection)

    async def feed() -> None:
        try:
            for event in events:
                await handle_request(engine, handler, event)
        finally:
            connection.queue.put_nowait(_END)

    task = asyncio.create_task(feed())
    try:
        while (event := await connection.queue.get()) is not _END:
            yield event
        await task
    finally:
        if not task.done():
            handler.cancel()
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(task, return_exceptions=True)
