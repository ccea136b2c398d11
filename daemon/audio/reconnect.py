"""Audio around the turn: earcons on listening edges, and reopening a device that went away."""
from __future__ import annotations

import asyncio
import logging
import random
from typing import Protocol

from daemon.backoff import Backoff
from daemon.events import ErrorEvent, EventBus, State, StateChanged

from .errors import device_fix

_LOG = logging.getLogger(__name__)
REOPEN = Backoff(initial_s=0.5, max_s=4.0)  # then about every 4 s until the device is back


def earcons(bus: EventBus, playback) -> None:
    """A short rising tone when listening starts, a falling one when it stops."""
    from .earcons import play_earcon

    previous = {"state": State.IDLE}

    def on_state(event) -> None:
        if not isinstance(event, StateChanged) or not playback.is_open:
            return
        if event.state == State.LISTENING:
            play_earcon(playback, "start")
        elif previous["state"] == State.LISTENING:
            play_earcon(playback, "stop")
        previous["state"] = event.state

    bus.subscribe(on_state)


class Reopenable(Protocol):
    async def reopen(self) -> None: ...


class DeviceKeeper:
    """Report a device fault once, then reopen the device (by name) until it works again."""

    def __init__(self, bus: EventBus, kind: str) -> None:
        self.bus = bus
        self.kind = kind
        self.device: Reopenable | None = None
        self._task: asyncio.Task | None = None

    def on_error(self, exc: Exception) -> None:
        if self._task is not None and not self._task.done():
            return
        _LOG.error("%s device problem: %s", self.kind, exc)
        self.bus.publish(ErrorEvent("audio_device", f"{exc}; reconnecting, or {device_fix(self.kind)}"))
        if self.device is not None:
            self._task = asyncio.get_running_loop().create_task(self._reopen())

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _reopen(self) -> None:
        device, attempt = self.device, 0
        while device is not None:
            await asyncio.sleep(REOPEN.delay(attempt, random.random()))
            attempt += 1
            try:
                await device.reopen()
            except Exception as exc:
                _LOG.debug("%s device still unavailable: %s", self.kind, exc)
                continue
            _LOG.info("%s device is back", self.kind)
            return
