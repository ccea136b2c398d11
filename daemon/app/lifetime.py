"""The lifetimes of the running parts: what to close, in reverse order, and the background tasks."""
from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Callable, Coroutine

_LOG = logging.getLogger(__name__)


class Lifetime:
    """What the parts started: closed at ``close`` in reverse order (failures logged, never hidden);
    background tasks, cancelled at close, their failures logged."""

    def __init__(self) -> None:
        self._closers: list[tuple[str, Callable[[], Any]]] = []
        self._tasks: set[asyncio.Task] = set()

    def on_close(self, name: str, closer: Callable[[], Any]) -> None:
        self._closers.append((name, closer))

    def spawn(self, coro: Coroutine, name: str) -> asyncio.Task:
        """A background task owned by the parts: cancelled at close, its failure logged."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOG.error("task %s failed", task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        while self._closers:
            name, closer = self._closers.pop()
            try:
                result = closer()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                _LOG.exception("closing %s failed", name)
