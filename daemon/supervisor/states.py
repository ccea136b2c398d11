"""The engine state machine: which transitions are legal. Pure."""
from __future__ import annotations

from daemon.events import EngineState as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.STOPPED: frozenset({S.STARTING}),
    S.STARTING: frozenset({S.READY, S.BACKOFF, S.FAILED, S.STOPPED, S.UNLOADED}),
    S.READY: frozenset({S.UNHEALTHY, S.BACKOFF, S.STOPPED, S.UNLOADED, S.FAILED}),
    S.UNHEALTHY: frozenset({S.READY, S.BACKOFF, S.STOPPED, S.UNLOADED, S.FAILED}),
    S.BACKOFF: frozenset({S.STARTING, S.FAILED, S.STOPPED, S.UNLOADED}),
    S.FAILED: frozenset({S.STARTING, S.STOPPED}),
    S.UNLOADED: frozenset({S.STARTING, S.STOPPED}),
}


class InvalidTransition(RuntimeError):
    pass


class StateMachine:
    def __init__(self, name: str) -> None:
        self.name = name
        self.state = S.STOPPED

    def can(self, new: S) -> bool:
        return new in TRANSITIONS[self.state]

    def to(self, new: S) -> S:
        if new == self.state:
            return new
        if not self.can(new):
            raise InvalidTransition(f"engine {self.name}: {self.state.value} -> {new.value} is not allowed")
        self.state = new
        return new
