"""Restart policy (fed durations and a seeded RNG) and the engine state machine."""
from __future__ import annotations

import random

import pytest

from daemon.events import EngineState as S
from daemon.supervisor.policy import RestartPolicy
from daemon.supervisor.states import TRANSITIONS, InvalidTransition, StateMachine


def policy(**kw) -> RestartPolicy:
    return RestartPolicy(initial_s=0.5, max_s=8.0, max_quick_failures=6, quick_failure_s=30.0,
                         rng=random.Random(7), **kw)


def test_backoff_doubles_to_the_cap_with_bounded_jitter():
    p = policy(give_up=False)
    delays = [p.next_delay(run_s=1.0) for _ in range(8)]
    bases = [0.5, 1, 2, 4, 8, 8, 8, 8]
    for delay, base in zip(delays, bases):
        assert base * 0.75 <= delay <= base * 1.25
    assert len(set(delays)) == len(delays)  # jitter: restarts of many engines don't align


def test_gives_up_after_n_quick_failures():
    p = policy()
    assert all(p.next_delay(run_s=0.2) is not None for _ in range(5))
    assert p.next_delay(run_s=0.2) is None
    assert p.failures == 6


def test_a_long_run_resets_the_count():
    p = policy()
    for _ in range(5):
        p.next_delay(run_s=0.2)
    delay = p.next_delay(run_s=120.0)  # it had been fine for two minutes
    assert delay is not None and delay <= 0.5 * 1.25 and p.failures == 1


def test_an_engine_that_served_requests_is_not_crash_looping():
    p = policy()
    for _ in range(20):  # killed again and again, but every run answered a request
        assert p.next_delay(run_s=0.5, served=True) is not None
    assert p.failures == 1


def test_remote_engines_never_give_up():
    p = policy(give_up=False)
    assert all(p.next_delay(run_s=0.1) is not None for _ in range(50))


def test_reset_after_manual_restart():
    p = policy()
    for _ in range(6):
        p.next_delay(run_s=0.1)
    p.reset()
    assert p.next_delay(run_s=0.1) == pytest.approx(0.5, rel=0.25)


def test_state_machine_happy_path_and_recovery():
    m = StateMachine("asr")
    for state in (S.STARTING, S.READY, S.UNHEALTHY, S.READY, S.BACKOFF, S.STARTING, S.FAILED, S.STARTING,
                  S.READY, S.UNLOADED, S.STARTING, S.READY, S.STOPPED):
        assert m.to(state) == state


@pytest.mark.parametrize("src,dst", [(S.STOPPED, S.READY), (S.FAILED, S.READY), (S.BACKOFF, S.READY),
                                     (S.UNLOADED, S.READY), (S.STOPPED, S.FAILED)])
def test_illegal_transitions_raise(src, dst):
    m = StateMachine("tts")
    m.state = src
    with pytest.raises(InvalidTransition, match=f"{src.value} -> {dst.value}"):
        m.to(dst)


def test_every_state_can_be_stopped_and_has_a_way_out():
    for state, targets in TRANSITIONS.items():
        assert S.STOPPED in targets or state == S.STOPPED
        assert targets, state


def test_status_carries_the_engines_own_description():
    from wyoming.info import Attribution, Info, TtsProgram

    from daemon.supervisor.group import _about

    who = Attribution(name="x", url="")
    about = "Qwen3-TTS-12Hz, streaming (graph path; GPU 4.12 GiB at rest, 4.50 GiB peak)"
    info = Info(tts=[TtsProgram(name="t", description=about, attribution=who, installed=True, version="1", voices=[])])
    assert _about(info) == about
    assert _about(None) is None and _about(Info()) is None


def test_an_unreachable_engine_is_described_by_cause_and_address():
    from daemon.speech.clients import unreachable

    uri = "tcp://127.0.0.1:1"
    assert unreachable(uri, ConnectionRefusedError(111, "Connect call failed")) == f"unreachable (connection refused to {uri})"
    assert unreachable(uri, ConnectionResetError()) == f"unreachable (connection reset by {uri})"
    assert unreachable("unix:///run/x.sock", FileNotFoundError(2, "No such file")) == \
        "unreachable (no socket at unix:///run/x.sock)"
    assert unreachable(uri, TimeoutError()) == f"unreachable (no answer from {uri})"
    assert unreachable(uri, OSError(113, "No route to host")) == f"unreachable ({uri}: No route to host)"
