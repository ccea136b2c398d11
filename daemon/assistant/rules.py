"""Pure turn logic: what a key press, a release or ``stop`` means in each state, and stage timings.

No I/O, no clock reads: the assistant feeds states and timestamps in.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from daemon.events import State

STAGES = ("key_up", "transcript", "first_token", "first_sentence", "first_audio", "end")


class Action(str, enum.Enum):
    LISTEN = "listen"            # start a new turn: Listening
    END_LISTENING = "end"        # key up: stop recording, go Thinking
    BARGE_IN = "barge_in"        # cancel the turn in flight, then Listen
    STOP = "stop"                # cancel the turn in flight, back to Idle
    DISCARD = "discard"          # drop the recording, back to Idle
    IGNORE = "ignore"


def on_press(state: State, mode: str) -> Action:
    if state == State.IDLE:
        return Action.LISTEN
    if state == State.LISTENING:
        return Action.END_LISTENING if mode == "toggle" else Action.IGNORE  # ptt: key repeat
    return Action.BARGE_IN


def on_release(state: State, mode: str) -> Action:
    return Action.END_LISTENING if mode == "ptt" and state == State.LISTENING else Action.IGNORE


def on_stop(state: State) -> Action:
    return {State.IDLE: Action.IGNORE, State.LISTENING: Action.DISCARD}.get(state, Action.STOP)


@dataclass
class TurnClock:
    """Timestamps of one turn's stages; ``timings()`` gives ms since key-up."""

    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, stage: str, now: float) -> None:
        self.marks.setdefault(stage, now)

    def timings(self) -> dict[str, float]:
        start = self.marks.get("key_up")
        if start is None:
            return {}
        return {stage: round((self.marks[stage] - start) * 1000, 1) for stage in STAGES[1:] if stage in self.marks}
