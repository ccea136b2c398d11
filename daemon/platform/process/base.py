"""One engine process's tie to the daemon: how it is spawned, adopted and stopped.

The supervisor calls, in order: ``spawn_kwargs()`` (extra arguments for
``create_subprocess_exec``), ``adopt(proc)`` right after the spawn, ``terminate()``
(the polite request), ``kill()`` when that was ignored, and ``close()`` once the
process has exited. Each OS fills these with what it has; none of them raises for a
process that is already gone.
"""
from __future__ import annotations

import abc
from typing import Any, Protocol


class Child(Protocol):
    """What a tie needs of a spawned process (asyncio's Process and Popen both fit)."""

    @property
    def pid(self) -> int: ...

    def terminate(self) -> None: ...

    def kill(self) -> None: ...


class Tie(abc.ABC):
    #: whether the OS itself kills the child when the daemon dies, even by SIGKILL
    dies_with_daemon = False

    def __init__(self) -> None:
        self.child: Child | None = None

    def spawn_kwargs(self) -> dict[str, Any]:
        return {}

    def adopt(self, child: Child) -> None:
        self.child = child

    @abc.abstractmethod
    def terminate(self) -> None:
        """Ask the child (and what it started) to exit."""

    @abc.abstractmethod
    def kill(self) -> None:
        """End the child (and what it started) now."""

    def close(self) -> None:
        """Release what the tie holds, once the child has exited."""
