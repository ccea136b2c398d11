"""Serve an Engine over ``unix://``, ``tcp://`` or ``stdio://`` (see transport.py).

Each connection gets a reader loop and a worker: the reader keeps reading while the
worker handles the request, so a closed connection is noticed at once and cancels
the request in flight; ``describe`` is answered by the reader itself, even while the
model is busy. Malformed or oversized frames get ``error{bad_request}`` and a closed
connection; exceptions become ``error`` events and the engine keeps serving.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from urllib.parse import urlparse

from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe

from .errors import BAD_REQUEST, BUSY, CUDA_OOM, INTERNAL, Cancelled, EngineError, is_cuda_oom
from .handler import Connection, Engine, Handler
from .transport import LOOPBACK, check_uri, listen
from .wire import DEFAULT_LIMITS, Limits, ProtocolError, read_event

_LOG = logging.getLogger(__name__)
__all__ = ["EngineServer", "LOOPBACK", "check_uri"]  # check_uri and LOOPBACK: re-exported for callers


class EngineServer:
    def __init__(self, engine: Engine, limits: Limits = DEFAULT_LIMITS, max_connections: int = 16) -> None:
        self.engine = engine
        self.limits = limits
        self.max_connections = max_connections
        self._tasks: set[asyncio.Task] = set()
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
        task = asyncio.create_task(self._serve_connection(reader, writer, "stdio"))
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
        if len(self._tasks) >= self.max_connections:
            with contextlib.suppress(Exception):
                await Connection(writer).send(Error(text="too many connections", code=BUSY))
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None  # called by the server inside its connection task
        self._tasks.add(task)
        try:
            await self._serve_connection(reader, writer, str(writer.get_extra_info("peername") or "unix"))
        except asyncio.CancelledError:
            pass  # stop() cancels open connections; Python < 3.12's start_server would log it as an error
        finally:
            self._tasks.discard(task)

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        connection = Connection(writer, peer)
        handler = self.engine.new_handler(connection)
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=256)
        worker = asyncio.create_task(self._work(handler, queue))
        try:
            await self._read_loop(reader, connection, queue, worker)
        except (ConnectionError, OSError):
            _LOG.debug("connection %s dropped", peer)
        finally:
            handler.cancel()
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_loop(self, reader, connection: Connection, queue: asyncio.Queue, worker: asyncio.Task) -> None:
        while not worker.done():
            try:
                event = await read_event(reader, self.limits)
            except ProtocolError as exc:
                _LOG.warning("bad frame from %s: %s", connection.peer, exc)
                await connection.send(Error(text=f"bad frame: {exc}", code=BAD_REQUEST))
                return
            if event is None:
                return
            if Describe.is_type(event.type):
                await connection.send(self.engine.info())
                continue
            await queue.put(event)

    async def _work(self, handler: Handler, queue: asyncio.Queue) -> None:
        while True:
            event = await queue.get()
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
                    self.engine.on_cuda_oom()
                    await handler.send(Error(text="the GPU ran out of memory", code=CUDA_OOM))
                else:
                    _LOG.exception("request failed")
                    await handler.send(Error(text=f"{type(exc).__name__}: {exc}", code=INTERNAL))
                handler.reset()
