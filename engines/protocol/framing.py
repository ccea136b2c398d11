"""A bounded Wyoming event reader.

``wyoming.event.async_read_event`` trusts the header: a peer can announce a 10 GB
payload, or send a line that never ends. Engines face untrusted local input, so
every length is bounded and every malformed frame raises ``ProtocolError``
(the connection is then answered with ``error{code: bad_request}`` and closed).
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from wyoming.event import Event, async_write_event


@dataclass(frozen=True)
class Limits:
    header: int = 64 * 1024          # one JSON line
    data: int = 1024 * 1024          # the optional data block
    payload: int = 8 * 1024 * 1024   # one binary payload (about 87 s of 48 kHz s16 stereo)


DEFAULT_LIMITS = Limits()


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed, bounded Wyoming frame."""


class StreamEnded(ProtocolError):
    """The stream ended inside a frame: the peer closed the connection, or died, while writing it."""


def _length(header: dict, key: str, limit: int) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"{key} must be a non-negative integer, got {value!r}")
    if value > limit:
        raise ProtocolError(f"{key} {value} exceeds the limit of {limit} bytes")
    return value


def parse_header(line: bytes) -> dict:
    try:
        header = json.loads(line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"header is not JSON: {exc}") from None
    except RecursionError:  # thousands of nested brackets: refused, not a crash
        raise ProtocolError("header is nested too deeply") from None
    if not isinstance(header, dict):
        raise ProtocolError("header must be a JSON object")
    if not isinstance(header.get("type"), str) or not header["type"]:
        raise ProtocolError("header has no 'type' string")
    if not isinstance(header.get("data", {}), dict):
        raise ProtocolError("'data' must be a JSON object")
    return header


async def read_event(reader: asyncio.StreamReader, limits: Limits = DEFAULT_LIMITS) -> Event | None:
    """Read one event. None on a clean end of stream; ProtocolError on anything malformed."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise StreamEnded("stream ended inside a header") from None
    except asyncio.LimitOverrunError:
        raise ProtocolError(f"header line exceeds {limits.header} bytes") from None
    if len(line) > limits.header:
        raise ProtocolError(f"header line exceeds {limits.header} bytes")
    header = parse_header(line)
    data = dict(header.get("data") or {})
    data_length = _length(header, "data_length", limits.data)
    payload_length = _length(header, "payload_length", limits.payload)
    try:
        if data_length:
            extra = json.loads(await reader.readexactly(data_length))
            if not isinstance(extra, dict):
                raise ProtocolError("data block must be a JSON object")
            data.update(extra)
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        raise StreamEnded("stream ended inside a frame") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ProtocolError("data block is not JSON (or nested too deeply)") from None
    return Event(type=header["type"], data=data, payload=payload)


async def write_event(writer: asyncio.StreamWriter, event: Event) -> None:
    await async_write_event(event, writer)
