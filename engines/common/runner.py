"""``python -m engines.<name>``: the common start-up of every engine process.

Order matters: stdout is taken away first (the protocol gets a private dup of fd 1
and fd 1 becomes stderr), so a stray ``print()`` or a library's import banner can
never corrupt a stdio stream; only then are heavy libraries imported and the model
loaded and warmed up; only then does the engine listen, so "answers ``describe``"
means "ready". A start-up failure the user must fix (missing model, bad argument)
prints one ``sisyphus-engine-fatal:`` line and exits with EXIT_CONFIG, which the
supervisor shows instead of crash-looping.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from typing import Any, Callable, Sequence

from engines.protocol.errors import EXIT_CONFIG, FATAL_PREFIX, EngineError
from .handler import Engine
from .lifeline import parent_watch
from .server import DEFAULT_IDLE_TIMEOUT, EngineServer, check_uri
from engines.protocol.framing import Limits

_LOG = logging.getLogger("engines")


def protect_stdout() -> int:
    """Return a private fd for the protocol; point fd 1 (and sys.stdout) at stderr."""
    sys.stdout.flush()
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    return proto_fd


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--uri", required=True, help="unix://PATH, tcp://HOST:PORT or stdio://")
    parser.add_argument("--allow-network", action="store_true", help="allow a tcp URI on a non-loopback address")
    parser.add_argument("--max-connections", type=int, default=16, help="clients served at once (more get busy)")
    parser.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_TIMEOUT, metavar="SECONDS",
                        help="close a connection that sends nothing for this long while no request runs "
                             "(0: never)")
    parser.add_argument("--max-payload", type=int, default=Limits().payload, help="largest binary payload in bytes")
    parser.add_argument("--parent-pid", type=int, default=0, help="exit when this process goes away")
    parser.add_argument("--debug", action="store_true", help="verbose logging")
    parser.add_argument("--http", metavar="HOST:PORT", help="also serve the OpenAI audio API there (same model)")
    parser.add_argument("--http-token-env", metavar="NAME",
                        help="HTTP clients must send the token in this environment variable as a bearer token")
    return parser


def setup_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def report_fatal(code: str, text: str) -> None:
    """The one line the supervisor reads to explain why this engine can't start."""
    sys.stderr.write(FATAL_PREFIX + json.dumps({"code": code, "text": text}) + "\n")
    sys.stderr.flush()


def main(
    argv: Sequence[str] | None,
    *,
    description: str,
    load: Callable[[argparse.Namespace], Engine],
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    http_routes: Callable[[argparse.Namespace], Any] | None = None,
) -> int:
    """``http_routes(args)``: the engine's OpenAI-audio routes (engines.common.http.Routes), for ``--http``."""
    proto_fd = protect_stdout()
    parser = base_parser(description)
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging(args.debug)
    try:
        check_uri(args.uri, args.allow_network)
    except ValueError as exc:
        report_fatal("bad_request", str(exc))
        return EXIT_CONFIG
    try:
        http = _http_side(args, http_routes)
        with http.loading() if http else contextlib.nullcontext():  # 503 while loading
            engine = load(args)
    except EngineError as exc:
        report_fatal(exc.code, exc.text)
        return EXIT_CONFIG
    except (ValueError, OSError) as exc:  # a bad --http address or token variable, a port in use
        report_fatal("bad_request", str(exc))
        return EXIT_CONFIG
    limits = Limits(payload=args.max_payload)
    try:
        asyncio.run(_serve(engine, args, proto_fd, limits, http))
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()
    return 0


def _http_side(args: argparse.Namespace, http_routes: Callable[[argparse.Namespace], Any] | None) -> Any:
    """The OpenAI-audio side (engines.common.http.Side), or None without ``--http``."""
    if not args.http:
        return None
    if http_routes is None:
        raise ValueError("--http: this engine does not serve the OpenAI audio API")
    try:
        from . import http  # aiohttp: only when asked for
    except ImportError as exc:
        raise ValueError(f"--http needs aiohttp in this engine's Python ({exc}); install it there with "
                         "'pip install aiohttp'") from None

    return http.Side(http.options(args), http_routes(args))


async def _serve(engine: Engine, args: argparse.Namespace, proto_fd: int, limits: Limits, http: Any = None) -> None:
    engine.model_lock = asyncio.Lock()  # bind the lock to this loop
    server = EngineServer(engine, limits=limits, max_connections=args.max_connections,
                          idle_timeout=args.idle_timeout)
    await server.start(args.uri, proto_fd)
    web = await http.serve(engine) if http else None
    stop = asyncio.Event()
    _on_signals(stop.set)
    watchers = [asyncio.create_task(stop.wait()), asyncio.create_task(server.wait_stopped())]
    if args.parent_pid:
        watchers.append(asyncio.create_task(_watch_parent(args.parent_pid)))
    await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED)
    for task in watchers:
        task.cancel()
    _LOG.info("shutting down")
    if web is not None:
        await web.stop()
    await server.stop()


def _on_signals(callback: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    # SIGBREAK: Windows' CTRL_BREAK_EVENT, how the supervisor asks an engine there to stop
    for sig in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGBREAK", None)):
        if sig is None:
            continue
        try:
            loop.add_signal_handler(sig, callback)
        except (NotImplementedError, RuntimeError):  # Windows event loops
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(callback))


async def _watch_parent(pid: int) -> None:
    """Exit when the daemon that started us is gone (the one tie that works on every OS)."""
    alive = parent_watch(pid)
    while alive():
        await asyncio.sleep(1.0)
    _LOG.warning("parent process %d is gone; exiting", pid)
