"""The supervisor against real fake-engine subprocesses over real unix sockets and tcp."""
from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from daemon.errors import EngineRequestError, EngineUnavailable
from daemon.events import EngineState as S
from daemon.events import EventBus
from daemon.speech import clients
from daemon.supervisor.spec import EngineSpec
from daemon.supervisor.supervisor import EngineSupervisor
from tests.support.engines import FAST, StateLog, fake_argv, free_port, spec, unix_uri


async def one_block(data: bytes):
    yield data


SPEECH = (b"\x00\x40" * 8000)  # 0.5 s of a loud constant at 16 kHz


@pytest.fixture
def bus():
    return EventBus()


async def test_crash_mid_request_restarts_and_next_request_succeeds(tmp_path, bus):
    log = StateLog(bus)
    sup = EngineSupervisor(spec("asr", "asr", unix_uri(tmp_path, "asr"), "--crash-after", "1"), bus, FAST)
    sup.start()
    try:
        uri = await sup.ready(15)
        assert await clients.transcribe("asr", uri, one_block(SPEECH)) == "audio of 500 milliseconds"
        first_pid = sup.pid
        with pytest.raises(EngineRequestError) as err:
            await clients.transcribe("asr", uri, one_block(SPEECH))
        assert err.value.code == "engine_died"
        await log.wait_for("asr", S.READY, count=2)
        assert sup.pid != first_pid
        assert await clients.transcribe("asr", await sup.ready(5), one_block(SPEECH)) == "audio of 500 milliseconds"
        assert S.BACKOFF in log.states("asr")
    finally:
        await sup.stop()
    assert log.states("asr")[-1] == S.STOPPED


async def test_hang_in_describe_is_killed_and_restarted(tmp_path, bus):
    log = StateLog(bus)
    sup = EngineSupervisor(spec("tts", "tts", unix_uri(tmp_path, "tts"), "--hang-describe", timeout=1.5), bus, FAST)
    sup.start()
    try:
        await log.wait_for("tts", S.BACKOFF, count=2, timeout=30)
        reasons = [e.reason for e in log.events if e.state == S.BACKOFF]
        assert "not ready within" in reasons[0]
    finally:
        await sup.stop()
    # every hung process was killed: nothing is left in its process group
    assert sup.process is None


async def test_crash_loop_ends_failed_and_restart_recovers(tmp_path, bus):
    log = StateLog(bus)
    uri = unix_uri(tmp_path, "asr")
    bad = EngineSpec("asr", uri, (sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(2)"), ready_timeout_s=5)
    sup = EngineSupervisor(bad, bus, FAST)
    sup.start()
    try:
        await log.wait_for("asr", S.FAILED)
        assert "boom" in sup.reason and "gave up after 3" in sup.reason
        with pytest.raises(EngineUnavailable) as err:
            await sup.ready(1)
        assert err.value.code == "engine_failed"
        sup.spec = spec("asr", "asr", uri)  # the user fixed the problem
        sup.restart()
        assert await sup.ready(15) == uri
    finally:
        await sup.stop()


async def test_config_error_fails_at_once_with_reason(tmp_path, bus):
    log = StateLog(bus)
    sup = EngineSupervisor(spec("asr", "asr", unix_uri(tmp_path, "asr"), "--missing-model", "/nope/model"), bus, FAST)
    sup.start()
    try:
        await log.wait_for("asr", S.FAILED)
        assert log.states("asr") == [S.STARTING, S.FAILED]
        assert "model not found at /nope/model" in sup.reason
    finally:
        await sup.stop()


async def test_remote_engine_reconnects_when_it_comes_back(tmp_path, bus):
    log = StateLog(bus)
    port = free_port()
    uri = f"tcp://127.0.0.1:{port}"
    remote = await asyncio.create_subprocess_exec(*fake_argv("asr", uri))
    sup = EngineSupervisor(EngineSpec("asr", uri, (), ready_timeout_s=10), bus, FAST)
    sup.start()
    try:
        await log.wait_for("asr", S.READY, timeout=30)  # refused until the remote listens: attempts fail meanwhile
        backoffs = log.states("asr").count(S.BACKOFF)
        remote.terminate()
        await remote.wait()
        await log.wait_for("asr", S.BACKOFF, count=backoffs + 1)
        with pytest.raises(EngineUnavailable):
            await clients.transcribe("asr", uri, one_block(SPEECH))
        remote = await asyncio.create_subprocess_exec(*fake_argv("asr", uri))
        await log.wait_for("asr", S.READY, count=2, timeout=30)
        assert await clients.transcribe("asr", uri, one_block(SPEECH)) == "audio of 500 milliseconds"
        assert S.FAILED not in log.states("asr")
    finally:
        await sup.stop()
        remote.terminate()
        await remote.wait()


async def test_slow_start_is_waited_for(tmp_path, bus):
    sup = EngineSupervisor(spec("tts", "tts", unix_uri(tmp_path, "tts"), "--slow-start", "1.0"), bus, FAST)
    sup.start()
    try:
        with pytest.raises(EngineUnavailable) as err:
            await sup.ready(0.3)
        assert "starting" in err.value.text
        assert await sup.ready(15)
    finally:
        await sup.stop()


async def test_an_error_inside_a_probe_is_the_engines_failure_and_it_restarts(tmp_path, bus, monkeypatch, caplog):
    log = StateLog(bus)
    real, raised = clients.describe, []

    async def describe(name, uri, timeout, http=None):
        if sup.state == S.READY and not raised:  # the first health probe: a bug, not an engine error
            raised.append(uri)
            raise RuntimeError("boom in the probe")
        return await real(name, uri, timeout, http)

    monkeypatch.setattr(clients, "describe", describe)
    sup = EngineSupervisor(spec("tts", "tts", unix_uri(tmp_path, "tts")), bus, FAST)
    sup.start()
    try:
        await log.wait_for("tts", S.READY, count=2)
        backoff = next(e.reason for e in log.events if e.state == S.BACKOFF)
        assert "boom in the probe" in backoff and "boom in the probe" in sup.last_error
        assert any("engine tts" in r.getMessage() and r.exc_info for r in caplog.records)
    finally:
        await sup.stop()


async def test_an_error_outside_a_run_is_logged_and_backed_off(tmp_path, bus, monkeypatch, caplog):
    log = StateLog(bus)
    dying = spec("asr", "asr", unix_uri(tmp_path, "asr"), "--die-in-describe", "2")  # in its first health probe
    sup = EngineSupervisor(dying, bus, FAST)
    real = sup.policy.next_delay

    def next_delay(run_s, served=False):
        monkeypatch.setattr(sup.policy, "next_delay", real)  # once
        raise ValueError("a bug in the policy")

    monkeypatch.setattr(sup.policy, "next_delay", next_delay)
    sup.start()
    try:
        await log.wait_for("asr", S.BACKOFF)
        assert "supervisor error" in sup.last_error and "a bug in the policy" in sup.last_error
        assert any("engine asr: the supervisor failed" in r.getMessage() for r in caplog.records)
        await log.wait_for("asr", S.STARTING, count=2)  # and it tries again
    finally:
        await sup.stop()


class _Escape(BaseException):
    """Gets past every ``except Exception``: ends the supervise task, as only a bug could."""


async def test_a_supervise_task_that_ends_is_noticed_and_started_again(tmp_path, bus, monkeypatch, caplog):
    log = StateLog(bus)
    sup = EngineSupervisor(spec("tts", "tts", unix_uri(tmp_path, "tts")), bus, FAST)
    real = sup._cycle

    async def cycle():
        monkeypatch.setattr(sup, "_cycle", real)  # once
        raise _Escape()

    monkeypatch.setattr(sup, "_cycle", cycle)
    sup.start()
    try:
        await log.wait_for("tts", S.READY)
        assert any("engine tts: its supervise task ended" in r.getMessage() for r in caplog.records)
        assert await sup.ready(5)
    finally:
        await sup.stop()
    assert sup.pid is None and log.states("tts")[-1] == S.STOPPED


async def test_a_remote_engine_nobody_listens_for_fails_each_attempt_at_once(bus):
    log = StateLog(bus)
    uri = f"tcp://127.0.0.1:{free_port()}"
    sup = EngineSupervisor(EngineSpec("tts", uri, (), ready_timeout_s=300), bus, FAST)
    sup.start()
    try:
        await log.wait_for("tts", S.BACKOFF, timeout=5)
        assert sup.last_error == f"unreachable (connection refused to {uri})"
        with pytest.raises(EngineUnavailable) as err:
            await asyncio.wait_for(sup.ready(120), 5)  # not the 120 s: the attempt it causes fails at once
        assert f"connection refused to {uri}" in err.value.text
    finally:
        await sup.stop()
