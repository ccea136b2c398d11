"""Ending a child task without losing our own cancellation."""
from __future__ import annotations

import asyncio
import logging

_LOG = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task) -> None:
    """Cancel ``task`` and wait until it has ended.

    Its CancelledError is expected and dropped; a cancellation of the *caller* (a barge-in,
    shutdown) is raised again, never swallowed. A failure of the child is logged: by the time
    a caller cancels it, the caller has its own error or result to report.
    """
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except Exception:
        _LOG.debug("task %s failed while being cancelled", task.get_name(), exc_info=True)
