"""The earcon cue: two soft taps when a tool call is still running after ``[tools] cue_after_s``."""
from __future__ import annotations

from typing import Any

from daemon.events import EventBus


def earcon_cue(bus: EventBus, playback: Any) -> None:
    """Play the "working" earcon on ``playback`` (an open Playback) at each ``slow`` tool event."""
    from daemon.audio.earcons import play_earcon

    def on_event(event: Any) -> None:
        if getattr(event, "kind", "") == "tool" and event.state == "slow" and playback.is_open:
            play_earcon(playback, "working")

    bus.subscribe(on_event)
