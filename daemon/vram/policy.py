"""GPU memory: the pure fallback policy (readings in, actions out; see monitor.py for readings).

When free VRAM falls below ``min_free_mb`` the engine not needed next is unloaded by
stopping its process (only process exit returns the whole CUDA context): while
Listening keep ASR and unload TTS; while Thinking or Speaking keep TTS; while Idle
unload the least recently used. Unloaded engines come back on demand (the
supervisor restarts an UNLOADED engine when a turn asks for it) or when free memory
is back above ``recover_free_mb``. The gap between the two floors and a cooldown after
every action keep it from flapping. Idle unload (``[asr|tts] idle_unload_min``) is the
same mechanism on a timer.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reading:
    total_mb: int
    free_mb: int
    per_pid_mb: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EngineView:
    name: str
    loaded: bool         # process running (STARTING/READY/UNHEALTHY)
    busy: bool           # a request in flight
    last_used: float
    unloaded_for_vram: bool = False
    idle_unload_s: float = 0.0


@dataclass
class VramPolicy:
    min_free_mb: int
    recover_free_mb: int
    cooldown_s: float = 10.0
    _last_action: float = float("-inf")

    def decide(self, reading: Reading | None, state: str, engines: list[EngineView], now: float) -> list[tuple]:
        """Actions ('unload', name, reason) / ('reload', name, reason) for this reading."""
        actions = self._idle(engines, now)
        if reading is None or now - self._last_action < self.cooldown_s:
            return actions
        if reading.free_mb < self.min_free_mb:
            victim = self._victim(state, [e for e in engines if e.loaded and not e.busy])
            if victim:
                actions.append(("unload", victim, f"free GPU memory {reading.free_mb} MB < {self.min_free_mb} MB"))
        elif reading.free_mb >= self.recover_free_mb:
            waiting = [e for e in engines if e.unloaded_for_vram and not e.loaded]
            if waiting:
                actions.append(("reload", waiting[0].name, f"free GPU memory back to {reading.free_mb} MB"))
        if any(a[0] in ("unload", "reload") and "GPU" in a[2] for a in actions):
            self._last_action = now
        return actions

    @staticmethod
    def _victim(state: str, candidates: list[EngineView]) -> str | None:
        if not candidates:
            return None
        names = {e.name for e in candidates}
        keep = {"listening": "asr", "thinking": "tts", "speaking": "tts"}.get(state)
        if keep and len(names - {keep}) >= 1:
            candidates = [e for e in candidates if e.name != keep]
        elif keep and names == {keep}:
            return None  # the only candidate is the one needed next
        return min(candidates, key=lambda e: e.last_used).name

    @staticmethod
    def _idle(engines: list[EngineView], now: float) -> list[tuple]:
        return [("unload", e.name, f"idle for {e.idle_unload_s / 60:.0f} min") for e in engines
                if e.loaded and not e.busy and e.idle_unload_s and now - e.last_used >= e.idle_unload_s]
