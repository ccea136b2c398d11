"""Fuzzing the two readers that face other processes: the engines' Wyoming frame reader and the
daemon's control socket. Any bytes must give an event, a clean end, or a ProtocolError / an error
reply: never another exception, never a hang."""
from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from daemon.control import ControlServer, _read_request
from daemon.events import EventBus
from engines.protocol.framing import Limits, ProtocolError, read_event

LIMITS = Limits(header=4096, data=4096, payload=8192)

headers = st.fixed_dictionaries({}, optional={
    "type": st.one_of(st.text(max_size=20), st.integers(), st.none()),
    "data": st.one_of(st.dictionaries(st.text(max_size=5), st.integers(), max_size=3), st.lists(st.integers())),
    "data_length": st.one_of(st.integers(-5, 10_000), st.text(max_size=3), st.booleans()),
    "payload_length": st.one_of(st.integers(-5, 100_000), st.floats(allow_nan=True), st.none()),
})
frames = st.one_of(
    st.binary(max_size=6000),
    st.builds(lambda h, tail: json.dumps(h).encode() + b"\n" + tail, headers, st.binary(max_size=300)),
)


async def read_all(data: bytes, limits: Limits = LIMITS) -> None:
    reader = asyncio.StreamReader(limit=limits.header)
    reader.feed_data(data)
    reader.feed_eof()
    for _ in range(100):
        try:
            event = await asyncio.wait_for(read_event(reader, limits), 1.0)
        except ProtocolError:
            return
        if event is None:
            return
        assert isinstance(event.type, str) and isinstance(event.data, dict)
        assert event.payload is None or len(event.payload) <= limits.payload


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames)
def test_wire_reader_never_crashes_or_hangs(data):
    asyncio.run(read_all(data))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_control_request_reader_never_crashes(data):
    async def go():
        reader = asyncio.StreamReader(limit=1024)
        reader.feed_data(data)
        reader.feed_eof()
        request = await asyncio.wait_for(_read_request(reader), 1.0)
        assert request is None or isinstance(request, dict)
        if request is not None and "error" not in request:
            assert isinstance(request["cmd"], str)

    asyncio.run(go())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.binary(min_size=1, max_size=2000), st.just(b"x" * 40_000)), min_size=1, max_size=4))
def test_live_control_socket_survives_garbage(tmp_path_factory, payloads):
    assume(not any(b"events" in p for p in payloads))  # a real `events` request streams until we hang up
    runtime = tmp_path_factory.mktemp("ctl")
    path = runtime / "daemon.sock"

    async def go():
        calls = []

        async def status(_req):
            calls.append(1)
            return {"state": "idle"}

        server = ControlServer(runtime, {"status": status}, EventBus(), f"unix://{path}")
        await server.start()
        try:
            for payload in payloads:
                reader, writer = await asyncio.open_unix_connection(str(path))
                writer.write(payload + b"\n")
                await writer.drain()
                writer.write_eof()
                await asyncio.wait_for(reader.read(), 15.0)
                writer.close()
            reader, writer = await asyncio.open_unix_connection(str(path))
            writer.write(b'{"cmd": "status"}\n')
            reply = json.loads(await asyncio.wait_for(reader.readline(), 15.0))
            writer.close()
            assert reply == {"ok": True, "state": "idle"}
        finally:
            await server.stop()

    asyncio.run(go())


def test_control_socket_is_user_only(tmp_path):
    async def go():
        server = ControlServer(tmp_path, {}, EventBus(), f"unix://{tmp_path / 'd.sock'}")
        await server.start()
        mode = (tmp_path / "d.sock").stat().st_mode & 0o777
        await server.stop()
        return mode

    assert asyncio.run(go()) == 0o600


NESTED = b'{"cmd": "status", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"


def test_deeply_nested_json_is_a_bad_request_not_a_crash():
    # json.loads raises RecursionError (not ValueError) past about 1,000 levels.
    async def go():
        for line in (b"[" * 8000, NESTED):
            reader = asyncio.StreamReader(limit=64 * 1024)
            reader.feed_data(line + b"\n")
            reader.feed_eof()
            assert "nested too deeply" in (await _read_request(reader))["error"]
        reader = asyncio.StreamReader(limit=64 * 1024)
        header = b'{"type": "describe", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}\n"
        reader.feed_data(header)
        reader.feed_eof()
        try:
            await read_event(reader, Limits(header=64 * 1024))
        except ProtocolError as exc:
            assert "nested too deeply" in str(exc)
        else:
            raise AssertionError("a deeply nested header was accepted")

    asyncio.run(go())
