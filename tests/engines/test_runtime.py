"""The engine runtime (engines/common) through the fake engines: real subprocesses, real sockets.

Covers: describe/info over unix, tcp and stdio with the upstream ``wyoming`` client;
stdout hygiene; garbage, oversized and truncated frames; a closed connection
cancelling the request in flight; errors becoming ``error`` events; bounded
connections; socket permissions; refusing non-loopback addresses.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import time

import pytest
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from tests.support.engines import fake_argv, free_port


async def start_engine(kind: str, uri: str, *extra: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(*fake_argv(kind, uri, *extra), stderr=asyncio.subprocess.PIPE)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            client = AsyncClient.from_uri(uri)
            await client.connect()
            await client.disconnect()
            return proc
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"engine on {uri} did not start")


@pytest.fixture
async def tts(tmp_path):
    uri = f"unix://{tmp_path}/tts.sock"
    proc = await start_engine("tts", uri, "--chunk-delay", "0.01")
    yield uri
    proc.terminate()
    await proc.wait()


async def ask(uri: str, *events, until: str) -> list:
    client = AsyncClient.from_uri(uri)
    await client.connect()
    try:
        for event in events:
            await client.write_event(event if hasattr(event, "payload") else event.event())
        got = []
        while True:
            event = await asyncio.wait_for(client.read_event(), 10)
            assert event is not None, f"connection closed; got {[e.type for e in got]}"
            got.append(event)
            if event.type in (until, "error"):
                return got
    finally:
        # A refused connection is closed by the engine with our request unread: the close may
        # come back as a reset, after the refusal was read. That is the refusal, not a failure.
        with contextlib.suppress(ConnectionResetError):
            await client.disconnect()


async def test_upstream_client_describes_and_synthesizes_over_unix(tts):
    info = Info.from_event((await ask(tts, Describe(), until="info"))[-1])
    assert [v.name for v in info.tts[0].voices] == ["alto", "bass", "soprano"]
    assert info.tts[0].supports_synthesize_streaming
    events = await ask(tts, Synthesize(text="Hello there."), until="audio-stop")
    chunks = [AudioChunk.from_event(e) for e in events if e.type == "audio-chunk"]
    assert events[0].type == "audio-start" and len(chunks) > 3
    assert all(len(c.audio) <= 24000 * 2 * 40 // 1000 for c in chunks)  # small chunks, ~40 ms


async def test_streaming_synthesis_answers_per_sentence(tts):
    events = await ask(tts, SynthesizeStart(), SynthesizeChunk(text="One. Tw"), SynthesizeChunk(text="o? Three"),
                       Synthesize(text="One. Two? Three"), SynthesizeStop(), until="synthesize-stopped")
    assert [e.type for e in events].count("audio-start") == 3
    assert events[-1].type == "synthesize-stopped"


async def test_asr_over_tcp_with_upstream_client():
    uri = f"tcp://127.0.0.1:{free_port()}"
    proc = await start_engine("asr", uri)
    try:
        audio = (b"\x00\x20" * 16000)
        events = await ask(uri, AudioStart(rate=16000, width=2, channels=1),
                           AudioChunk(rate=16000, width=2, channels=1, audio=audio), AudioStop(), until="transcript")
        assert Transcript.from_event(events[-1]).text == "audio of 1000 milliseconds"
        assert [e.type for e in events][:2] == ["transcript-start", "transcript-chunk"]
        silent = await ask(uri, AudioStart(rate=16000, width=2, channels=1),
                           AudioChunk(rate=16000, width=2, channels=1, audio=bytes(32000)), AudioStop(), until="transcript")
        assert [e.type for e in silent] == ["transcript"] and Transcript.from_event(silent[0]).text == ""
    finally:
        proc.terminate()
        await proc.wait()


def test_stdio_protocol_survives_stray_prints():
    """A library printing to stdout must not corrupt the stream: fd 1 goes to stderr."""
    proc = subprocess.Popen(fake_argv("tts", "stdio://", "--stray-print"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    from wyoming.event import read_event, write_event

    write_event(Describe().event(), proc.stdin)
    write_event(Synthesize(text="Hi.").event(), proc.stdin)
    proc.stdin.flush()
    types = []
    while (event := read_event(proc.stdout)) is not None:
        types.append(event.type)
        if event.type == "audio-stop":
            break
    proc.stdin.close()
    assert proc.wait(10) == 0  # end of stdin ends the engine cleanly
    stderr = proc.stderr.read().decode()
    assert types[0] == "info" and types[1] == "audio-start" and types[-1] == "audio-stop"
    assert "library banner" in stderr and "request 1" in stderr


def raw_exchange(path: str, payload: bytes, shutdown: bool = True) -> bytes:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(payload)
        if shutdown:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


@pytest.mark.parametrize("garbage,expect", [
    (b"this is not json\n", b"bad frame: header is not JSON"),
    (b"[1, 2, 3]\n", b"header must be a JSON object"),
    (b'{"data": {}}\n', b"no 'type'"),
    (b'{"type": "audio-chunk", "payload_length": 999999999999}\n', b"exceeds the limit"),
    (b'{"type": "audio-chunk", "payload_length": -5}\n', b"non-negative"),
    (b'{"type": "synthesize", "data_length": 50}\n{"text"', b"stream ended inside a frame"),
    (b"x" * 200_000, b"header line exceeds"),
])
async def test_garbage_gets_an_error_and_the_engine_keeps_serving(tts, garbage, expect):
    path = tts[len("unix://"):]
    reply = await asyncio.to_thread(raw_exchange, path, garbage)
    assert expect in reply, reply[:300]
    first = json.loads(reply.split(b"\n")[0])
    assert first["type"] == "error"
    events = await ask(tts, Synthesize(text="still alive."), until="audio-stop")
    assert events[-1].type == "audio-stop"


async def test_wrong_types_get_an_error_event(tts):
    from wyoming.event import Event

    events = await ask(tts, Event(type="synthesize", data={"text": 42}), until="audio-stop")
    error = Error.from_event(events[-1])
    assert events[-1].type == "error" and error.code == "internal_error" and "AttributeError" in error.text
    assert (await ask(tts, Synthesize(text="ok."), until="audio-stop"))[-1].type == "audio-stop"


async def test_unknown_events_are_ignored(tts):
    events = await ask(tts, Describe(), until="info")
    client = AsyncClient.from_uri(tts)
    await client.connect()
    from wyoming.event import Event

    await client.write_event(Event(type="x-something-new", data={"a": 1}))
    await client.write_event(Describe().event())
    assert (await asyncio.wait_for(client.read_event(), 5)).type == "info"
    await client.disconnect()
    assert events


async def test_closed_connection_cancels_the_request_in_flight(tts):
    client = AsyncClient.from_uri(tts)
    await client.connect()
    await client.write_event(Synthesize(text="long " * 2000).event())  # ~200 s of audio at 10 ms per chunk: 50 s
    while (await client.read_event()).type != "audio-chunk":
        pass
    await client.disconnect()
    started = time.monotonic()
    events = await ask(tts, Synthesize(text="Next."), until="audio-stop")
    assert events[-1].type == "audio-stop"
    assert time.monotonic() - started < 5  # the abandoned request no longer holds the model


async def test_errors_become_error_events_and_serving_continues(tmp_path):
    uri = f"unix://{tmp_path}/tts.sock"
    proc = await start_engine("tts", uri, "--error-code", "cuda_oom")
    try:
        for _ in range(2):
            events = await ask(uri, Synthesize(text="Hi."), until="error")
            error = Error.from_event(events[-1])
            assert error.code == "cuda_oom" and "scripted" in error.text
    finally:
        proc.terminate()
        await proc.wait()


async def test_socket_is_user_only_and_removed_on_exit(tmp_path):
    path = tmp_path / "run" / "tts.sock"
    proc = await start_engine("tts", f"unix://{path}")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    proc.send_signal(15)
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    assert not path.exists()


async def test_stale_socket_is_replaced(tmp_path):
    path = tmp_path / "tts.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # a socket file nobody listens on, as a SIGKILLed engine leaves
    proc = await start_engine("tts", f"unix://{path}")
    try:
        assert (await ask(f"unix://{path}", Describe(), until="info"))[-1].type == "info"
    finally:
        proc.terminate()
        await proc.wait()


def test_network_address_refused_without_opt_in():
    result = subprocess.run(fake_argv("tts", "tcp://0.0.0.0:10999"), capture_output=True, text=True, timeout=30)
    assert result.returncode == 78
    assert "--allow-network" in result.stderr and "sisyphus-engine-fatal" in result.stderr


async def test_connection_flood_is_bounded(tmp_path):
    uri = f"unix://{tmp_path}/tts.sock"
    proc = await start_engine("tts", uri, "--max-connections", "4")
    socks = []
    try:
        for _ in range(12):
            s = socket.socket(socket.AF_UNIX)
            s.connect(uri[len("unix://"):])
            socks.append(s)
        # At most 4 are served at once: at least 8 get the refusal. (One more may be refused
        # while the readiness probe's own connection is still closing on a loaded machine.)
        refused: set[socket.socket] = set()
        deadline = time.monotonic() + 10
        while len(refused) < 8 and time.monotonic() < deadline:
            ready, _, _ = select.select([s for s in socks if s not in refused], [], [], 0.2)
            refused.update(s for s in ready if b"too many connections" in s.recv(4096))
        assert 8 <= len(refused) <= 9
        for s in socks:
            s.close()
        for _ in range(50):  # once the engine has seen the flood's connections close, it serves again
            events = await ask(uri, Synthesize(text="fine."), until="audio-stop")
            if events[-1].type != "error":
                break
            await asyncio.sleep(0.1)
        assert events[-1].type == "audio-stop"
    finally:
        proc.terminate()
        await proc.wait()


async def test_idle_connections_are_closed_so_they_cannot_lock_others_out(tmp_path):
    # 20 clients connect and say nothing: 16 fill every slot, the rest are refused at once. With
    # the idle timeout (3 s here, 30 s by default) the 16 are closed, saying why, and a real
    # request is served.
    uri = f"unix://{tmp_path}/tts.sock"
    proc = await start_engine("tts", uri, "--idle-timeout", "3")
    idle = [AsyncClient.from_uri(uri) for _ in range(20)]
    try:
        for client in idle:
            await client.connect()
        replies = await asyncio.wait_for(asyncio.gather(*(c.read_event() for c in idle)), 30)
        codes = sorted(Error.from_event(e).code for e in replies)
        # (one more may be refused while the start-up probe's connection is still closing)
        assert codes.count("busy") in (4, 5) and codes.count("idle_timeout") == 20 - codes.count("busy"), codes
        assert "no request for 3 s" in Error.from_event(replies[codes.index("idle_timeout")]).text
        assert await asyncio.wait_for(asyncio.gather(*(c.read_event() for c in idle)), 30) == [None] * 20
        events = await ask(uri, Synthesize(text="fine."), until="audio-stop")
        assert events[-1].type == "audio-stop", events[-1]
    finally:
        for client in idle:
            await client.disconnect()
        proc.terminate()
        await proc.wait()


async def test_a_request_longer_than_the_idle_timeout_is_not_cut(tmp_path):
    # Idle means no request running and nothing arriving: a long generation is not idleness.
    uri = f"unix://{tmp_path}/tts.sock"
    proc = await start_engine("tts", uri, "--idle-timeout", "0.3", "--chunk-delay", "0.1")
    try:
        started = time.monotonic()
        events = await ask(uri, Synthesize(text="A sentence that takes a while to say."), until="audio-stop")
        assert events[-1].type == "audio-stop", events[-1]
        assert time.monotonic() - started > 0.6  # the request outlived two idle timeouts
    finally:
        proc.terminate()
        await proc.wait()
