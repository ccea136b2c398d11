"""The OpenAI audio API beside Wyoming, in the same process and on the same model (``--http HOST:PORT``).

Shared plumbing: the listening address (loopback unless ``--allow-network``), an optional bearer
token (``--http-token-env NAME``), OpenAI-style JSON errors (``{"error": {message, type, param,
code}}``) with the HTTP status a client acts on, the request limits, a 503 answer while the model
loads, and the aiohttp server started and stopped beside the Wyoming server. The routes live with
each engine kind (engines/tts/http.py, engines/asr/http.py); they run every request through the
engine's own Wyoming handler (engines.common.bridge). aiohttp is imported only when ``--http`` is
given, so an engine venv without it still serves Wyoming.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from wyoming.error import Error

from engines.protocol import errors
from engines.protocol.transport import LOOPBACK

from .handler import Engine

_LOG = logging.getLogger(__name__)
Routes = Callable[[Engine], list[web.RouteDef]]
_MAX_BODY = web.AppKey("max_body", int)
MAX_BODY = 25 * 1024 * 1024  # OpenAI's upload limit; the audio's length is bounded by the engine (413 beyond)

# The HTTP status of each engine error code (engines.protocol.errors), as OpenAI clients expect it.
STATUS = {errors.BAD_REQUEST: 400, errors.BAD_VOICE: 400, errors.UNKNOWN_VOICE: 400, errors.BAD_AUDIO: 400,
          errors.UNSUPPORTED: 400, errors.MODEL_NOT_FOUND: 404, errors.BUSY: 503, errors.CUDA_OOM: 503,
          errors.IDLE_TIMEOUT: 408, errors.INTERNAL: 500}
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
          413: "invalid_request_error", 503: "server_error", 500: "server_error"}


class ApiError(Exception):
    """A request answered with an OpenAI-style error body."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": _TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}

    def response(self) -> web.Response:
        headers = {"Retry-After": "5"} if self.status == 503 else None
        return web.json_response(self.body(), status=self.status, headers=headers)

    @classmethod
    def from_event(cls, error: Error, param: str | None = None) -> "ApiError":
        """The engine's own ``error`` event (same text and code as over Wyoming)."""
        code = error.code or errors.INTERNAL
        return cls(STATUS.get(code, 500), error.text, param, code)


@dataclass(frozen=True)
class HttpOptions:
    host: str
    port: int
    token: str | None
    max_body: int        # bytes of one request body (413 beyond)
    max_requests: int    # requests served at once (503 busy beyond), as --max-connections on Wyoming


def parse_address(text: str, allow_network: bool) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port); non-loopback needs ``allow_network``."""
    parts = urlsplit(text if "//" in text else f"//{text}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise ValueError(f"--http {text!r}: give HOST:PORT, e.g. --http 127.0.0.1:8880")
    if parts.hostname not in LOOPBACK and not allow_network:
        raise ValueError(f"--http {text!r} listens on the network; pass --allow-network to serve beyond this "
                         "machine (and consider --http-token-env)")
    return parts.hostname, port


def options(args: Any) -> HttpOptions:
    """The HTTP side's options from the engine's arguments; ValueError names what is wrong."""
    host, port = parse_address(args.http, args.allow_network)
    token = None
    if args.http_token_env:
        token = os.environ.get(args.http_token_env, "")
        if not token:
            raise ValueError(f"--http-token-env {args.http_token_env}: the environment variable "
                             f"{args.http_token_env} is not set or empty; set it to the bearer token clients send")
    return HttpOptions(host, port, token, max(args.max_payload, MAX_BODY), args.max_connections)


def _auth(token: str | None):
    expected = f"Bearer {token}".encode() if token else None

    @web.middleware
    async def check(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        if expected is not None and not hmac.compare_digest(request.headers.get("Authorization", "").encode(),
                                                            expected):
            raise ApiError(401, "missing or wrong API key: send the engine's token as 'Authorization: Bearer "
                                "TOKEN'", code="invalid_api_key")
        return await handler(request)
    return check


@web.middleware
async def _errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    try:
        return await handler(request)
    except ApiError as exc:
        _LOG.info("%s %s: %d %s", request.method, request.path, exc.status, exc.message)
        return exc.response()
    except web.HTTPRequestEntityTooLarge:
        return ApiError(413, f"the request body is larger than the engine's limit of "
                             f"{request.app[_MAX_BODY]} bytes", code="request_too_large").response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return ApiError(exc.status, f"{request.method} {request.path}: {exc.reason}").response()


def _busy(limit: int):
    active = 0

    @web.middleware
    async def gate(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        nonlocal active
        if active >= limit:
            raise ApiError(503, f"the engine is serving {limit} requests already; try again shortly", code="busy")
        active += 1
        try:
            return await handler(request)
        finally:
            active -= 1
    return gate


def make_app(routes: list[web.RouteDef], opts: HttpOptions) -> web.Application:
    app = web.Application(middlewares=[_errors, _auth(opts.token), _busy(opts.max_requests)],
                          client_max_size=opts.max_body)
    app[_MAX_BODY] = opts.max_body
    app.add_routes(routes)
    return app


async def json_body(request: web.Request) -> dict:
    """The request's JSON object, or a 400 that says what was wrong."""
    try:
        body = await request.json(loads=json.loads)
    except ValueError as exc:
        raise ApiError(400, f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def model_list(names: list[str], created: int) -> dict:
    """``GET /v1/models``: the OpenAI list shape."""
    return {"object": "list", "data": [{"id": name, "object": "model", "created": created,
                                        "owned_by": "sisyphus"} for name in names]}


class HttpServer:
    """The aiohttp server beside the Wyoming server; a client that hangs up cancels its handler."""

    def __init__(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, handler_cancellation=True)

    async def start(self, host: str, port: int) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port, reuse_address=True).start()

    async def stop(self) -> None:
        await self._runner.cleanup()


async def serve(engine: Engine, routes: Routes, opts: HttpOptions) -> HttpServer:
    server = HttpServer(make_app(routes(engine), opts))
    await server.start(opts.host, opts.port)
    _LOG.info("serving the OpenAI audio API on http://%s:%d/v1", opts.host if ":" not in opts.host
              else f"[{opts.host}]", opts.port)
    return server


@dataclass(frozen=True)
class Side:
    """What the runner needs for ``--http``: a 503 answer while loading, then the engine's routes."""

    options: HttpOptions
    routes: Routes

    def loading(self) -> "Loading":
        return Loading(self.options)

    async def serve(self, engine: Engine) -> HttpServer:
        return await serve(engine, self.routes, self.options)


class Loading:
    """While the model loads: the HTTP port already answers, with 503 and Retry-After.

    Runs in its own thread and loop (loading blocks the main thread); a port that cannot be
    bound fails here, before minutes of loading. Stopped just before the real server starts."""

    def __init__(self, opts: HttpOptions) -> None:
        self.opts = opts
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="http-loading", daemon=True)

    def __enter__(self) -> "Loading":
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        started = time.monotonic()

        async def loading(_request: web.Request) -> web.Response:
            return ApiError(503, f"the engine is loading its model ({time.monotonic() - started:.0f} s so far); "
                                 "try again in a few seconds", code="loading").response()

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", loading)
        server = HttpServer(app)
        try:
            await server.start(self.opts.host, self.opts.port)
        except OSError as exc:  # re-raised in the main thread: the start fails with one clear line
            self._error = OSError(f"--http {self.opts.host}:{self.opts.port}: cannot listen there "
                                  f"({exc.strerror or exc}); pick a free port")
        except BaseException as exc:  # noqa: BLE001  (re-raised in the main thread)
            self._error = exc
        finally:
            self._ready.set()
        if self._error is not None:
            return
        await self._stop.wait()
        await server.stop()
