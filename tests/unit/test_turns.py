"""Pure turn logic: key presses, releases and stop in every state and mode; stage timings."""
from __future__ import annotations

import pytest

from daemon.events import State
from daemon.assistant.rules import Action, TurnClock, on_press, on_release, on_stop


@pytest.mark.parametrize("state,mode,action", [
    (State.IDLE, "ptt", Action.LISTEN),
    (State.LISTENING, "ptt", Action.IGNORE),          # auto-repeat while held
    (State.THINKING, "ptt", Action.BARGE_IN),
    (State.SPEAKING, "ptt", Action.BARGE_IN),
    (State.IDLE, "toggle", Action.LISTEN),
    (State.LISTENING, "toggle", Action.END_LISTENING),
    (State.THINKING, "toggle", Action.BARGE_IN),
    (State.SPEAKING, "toggle", Action.BARGE_IN),
])
def test_press(state, mode, action):
    assert on_press(state, mode) == action


@pytest.mark.parametrize("state,mode,action", [
    (State.LISTENING, "ptt", Action.END_LISTENING),
    (State.IDLE, "ptt", Action.IGNORE),
    (State.THINKING, "ptt", Action.IGNORE),   # the release of a barge-in press that already ended
    (State.SPEAKING, "ptt", Action.IGNORE),
    (State.LISTENING, "toggle", Action.IGNORE),
])
def test_release(state, mode, action):
    assert on_release(state, mode) == action


@pytest.mark.parametrize("state,action", [
    (State.IDLE, Action.IGNORE), (State.LISTENING, Action.DISCARD),
    (State.THINKING, Action.STOP), (State.SPEAKING, Action.STOP),
])
def test_stop(state, action):
    assert on_stop(state) == action


def test_clock_reports_ms_from_key_up_and_keeps_first_marks():
    clock = TurnClock()
    clock.mark("key_up", 10.0)
    clock.mark("transcript", 10.120)
    clock.mark("first_token", 10.400)
    clock.mark("first_token", 10.500)  # later tokens don't move the mark
    clock.mark("first_audio", 10.650)
    assert clock.timings() == {"transcript": 120.0, "first_token": 400.0, "first_audio": 650.0}


def test_clock_without_key_up_reports_nothing():
    clock = TurnClock()
    clock.mark("transcript", 1.0)
    assert clock.timings() == {}
