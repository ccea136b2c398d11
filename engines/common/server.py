"""Serve an Engine over ``unix://``, ``tcp://`` or ``stdio://`` (see transport.py).

Each connection gets a reader loop and a worker: the reader keeps reading while the
worker handles the request, so a closed connection is noticed at once and cancels
the request in flight; ``describe`` is answered by the reader itself, even while the
model is busy. Malformed or oversized frames get ``error{bad_request}`` and a closed
connection; exceptions become ``error`` events and the engine keeps serving.

At most ``max_connections`` are served at once (more get ``error{busy}``), so a client
that connects and then says nothing is closed after ``idle_timeout`` seconds with
``error{idle_timeout}``: idle clients cannot lock the others out. A connection is idle
while no request is being handled and nothing arrives; a long generation is not idleness.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe

from engines.protocol.errors import (BAD_REQUEST, BUSY, CUDA_OOM, IDLE_TIMEOUT, INTERNAL, Cancelled, EngineError,
                                     is_cuda_oom)
from .handler import Connection, Engine, Handler
from engines.protocol.framing import DEFAULT_LIMITS, Limits, ProtocolError, read_event
from engines.protocol.transport import LOOPBACK, check_uri, listen

_LOG = logging.getLogger(__name__)
__all__ = ["EngineServer", "LOOPBACK", "check_uri"]  # check_uri and LOOPBACK: re-exported for callers
DEFAULT_IDLE_TIMEOUT = 30.0


class _Activity:
    """When a connection last did something, and whether a request is being handled now."""

    def __init__(self) -> None:
        self.busy = False
        self.last = asyncio.get_running_loop().time()

    def touch(self, busy: bool) -> None:
        self.busy = busy
        self.seen()

    def seen(self) -> None:
        self.last = asyncio.get_running_loop().time()

    def idle_for(self) -> float:
        return 0.0 if self.busy else asyncio.get_running_loop().time() - self.last


class EngineServer:
    def __init__(self, engine: Engine, limits: Limits = DEFAULT_LIMITS, max_connections: int = 16,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> None:
        """``idle_timeout``: seconds (0: never); stdio, the whole life of the process, is never idle."""
        self.engine = engine
        self.limits = limits
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self._tasks: set[asyncio.Task] = set()
        self._served: set[asyncio.Task] = set()  # connections holding one of the max_connections slots
        self._server: asyncio.AbstractServer | None = None
        self._unix_path: Path | None = None
        self._stopped = asyncio.Event()

    # -- listening ---------------------------------------------------------
    async def start(self, uri: str, proto_fd: int | None = None) -> None:
        if urlparse(uri).scheme == "stdio":
            await self._start_stdio(proto_fd)
        else:
            self._server, self._unix_path = await listen(uri, self._accept, self.limits.header)
        _LOG.info("serving on %s", uri)

    async def _start_stdio(self, proto_fd: int | None) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=self.limits.header)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0))
        out = os.fdopen(proto_fd if proto_fd is not None else 1, "wb", buffering=0)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, out)
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        task = asyncio.create_task(self._serve_connection(reader, writer, "stdio", idle_timeout=0))
        # Over stdio the one connection is the whole life of the process.
        task.add_done_callback(lambda _t: self._stopped.set())
        self._tasks.add(task)

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._unix_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._unix_path.unlink()
        self._stopped.set()

    # -- connections -------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._served) >= self.max_connections:
            with contextlib.suppress(Exception):
                await Connection(writer).send(Error(text="too many connections", code=BUSY))
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None  # called by the server inside its connection task
        self._tasks.add(task)
        self._served.add(task)
        try:
            await self._serve_connection(reader, writer, str(writer.get_extra_info("peername") or "unix"),
                                         release=lambda: self._served.discard(task))
        except asyncio.CancelledError:
            pass  # stop() cancels open connections; Python < 3.12's start_server would log it as an error
        finally:
            self._served.discard(task)
            self._tasks.discard(task)

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str,
                                idle_timeout: float | None = None, release: Callable[[], None] = lambda: None) -> None:
        """Serve one client until it leaves; ``release`` frees its slot before the close it will see,
        so a client told "closed" can connect again at once."""
        connection = Connection(writer, peer)
        handler = self.engine.new_handler(connection)
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=256)
        activity = _Activity()
        worker = asyncio.create_task(self._work(handler, queue, activity))
        reads = _Reads(reader, self.limits, activity, self.idle_timeout if idle_timeout is None else idle_timeout)
        try:
            await self._read_loop(reads, connection, queue, worker)
        except (ConnectionError, OSError):
            _LOG.debug("connection %s dropped", peer)
        finally:
            reads.close()
            handler.cancel()
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            release()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_loop(self, reads: "_Reads", connection: Connection, queue: asyncio.Queue,
                         worker: asyncio.Task) -> None:
        while not worker.done():
            try:
                event = await reads.next(worker)
            except ProtocolError as exc:
                _LOG.warning("bad frame from %s: %s", connection.peer, exc)
                await connection.send(Error(text=f"bad frame: {exc}", code=BAD_REQUEST))
                return
            except TimeoutError:
                _LOG.info("closing %s: idle for %g s", connection.peer, reads.idle_timeout)
                await connection.send(Error(text=f"no request for {reads.idle_timeout:g} s: connection closed "
                                                 "(connect again for the next request)", code=IDLE_TIMEOUT))
                return
            if event is None:
                return
            if Describe.is_type(event.type):
                await connection.send(self.engine.info())
                continue
            await queue.put(event)

    async def _work(self, handler: Handler, queue: asyncio.Queue, activity: _Activity) -> None:
        while True:
            event = await queue.get()
            activity.touch(busy=True)
            try:
                await self._handle(handler, event)
            finally:
                activity.touch(busy=not queue.empty())

    async def _handle(self, handler: Handler, event: Event) -> None:
        await handle_request(self.engine, handler, event)


async def handle_request(engine: Engine, handler: Handler, event: Event) -> None:
    """Hand one event to ``handler``; a failure becomes an ``error`` event and the engine keeps serving.

    Shared by the Wyoming server and the OpenAI-audio HTTP side (engines.common.http)."""
    try:
        await handler.handle_event(event)
    except EngineError as exc:
        _LOG.info("request failed: %s (%s)", exc.text, exc.code)
        await handler.send(exc.event())
        handler.reset()
    except Cancelled:
        handler.reset()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the engine keeps serving whatever one request did
        if is_cuda_oom(exc):
            _LOG.error("CUDA out of memory: %s", exc)
            engine.on_cuda_oom()
            await handler.send(Error(text="the GPU ran out of memory", code=CUDA_OOM))
        else:
            _LOG.exception("request failed")
            await handler.send(Error(text=f"{type(exc).__name__}: {exc}", code=INTERNAL))
        handler.reset()


class _Reads:
    """A connection's events, one at a time; TimeoutError once it has been idle for ``idle_timeout`` s.

    The pending read survives a timeout check (a frame is never cut in half), and a worker
    that ended (it could no longer write) ends the reading too."""

    def __init__(self, reader: asyncio.StreamReader, limits: Limits, activity: _Activity,
                 idle_timeout: float) -> None:
        self.reader, self.limits, self.activity = reader, limits, activity
        self.idle_timeout = idle_timeout
        self._pending: asyncio.Future | None = None

    async def next(self, worker: asyncio.Task) -> Event | None:
        if self._pending is None:
            self._pending = asyncio.ensure_future(read_event(self.reader, self.limits))
        while True:
            left = self.idle_timeout - self.activity.idle_for() if self.idle_timeout > 0 else None
            done, _ = await asyncio.wait({self._pending, worker}, timeout=left,
                                         return_when=asyncio.FIRST_COMPLETED)
            if self._pending in done:
                read, self._pending = self._pending, None
                self.activity.seen()
                return read.result()
            if worker in done:
                return None
            if self.activity.idle_for() >= self.idle_timeout:
                raise TimeoutError()

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
