"""One aiohttp request to a speech server, with every transport failure turned into a daemon error.

A refused or unresolvable connection is ``EngineUnreachable`` (like a Wyoming engine that is not
there); no answer within the timeout, a cut body, or a 4xx/5xx status is ``EngineRequestError``
with a stable code. Leaving the ``async with`` closes the response: a body not read to its end
closes the connection, which is how a request is cancelled (barge-in).
"""
from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

import aiohttp

from daemon.errors import EngineRequestError, EngineUnreachable
from daemon.speech.common import unreachable

from .errors import status_error
from .options import HttpOptions

MAX_ERROR_BODY = 64 * 1024


def session(options: HttpOptions) -> aiohttp.ClientSession:
    """A session for one turn's requests (kept alive between its chunks); the key in every request."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=options.connect_timeout_s, sock_read=options.timeout_s)
    return aiohttp.ClientSession(timeout=timeout, headers=options.headers())


def url(uri: str, path: str) -> str:
    return uri.rstrip("/") + path


@contextlib.asynccontextmanager
async def request(http: aiohttp.ClientSession, name: str, uri: str, method: str, path: str,
                  **kwargs: Any) -> AsyncIterator[aiohttp.ClientResponse]:
    """``async with request(...) as response``: a 2xx response whose body is still to be read."""
    target = url(uri, path)
    try:
        async with http.request(method, target, **kwargs) as response:
            if response.status >= 400:
                raise status_error(name, target, response.status, await response.content.read(MAX_ERROR_BODY))
            try:
                yield response
            finally:
                if not response.content.at_eof():
                    response.close()  # unread body: drop the connection, the server stops
    except aiohttp.ClientConnectorError as exc:
        # a certificate error carries no os_error: its own text says what is wrong
        raise EngineUnreachable(name, unreachable(uri, getattr(exc, "os_error", None) or exc)) from None
    except aiohttp.ConnectionTimeoutError:
        raise EngineUnreachable(name, f"unreachable (no answer from {uri})") from None
    except TimeoutError:  # aiohttp's SocketTimeoutError: nothing arrived for sock_read seconds
        raise EngineRequestError(f"{name} engine at {target} sent nothing for {http.timeout.sock_read:g} s; "
                                 "it is overloaded or stuck", "engine_timeout") from None
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
        raise EngineRequestError(f"{name} engine at {target} closed the connection mid-request ({exc})",
                                 "engine_died") from None
    except aiohttp.ClientResponseError as exc:
        raise EngineRequestError(f"{name} engine at {target} sent a malformed answer ({exc.message})",
                                 "engine_protocol") from None
    except aiohttp.InvalidURL as exc:
        raise EngineRequestError(f"{name} engine: invalid URL {exc}", "engine_config") from None
