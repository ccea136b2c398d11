"""GPU memory: an NVML monitor (no CUDA context of its own) and a pure fallback policy.

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

import logging
from dataclasses import dataclass, field

_LOG = logging.getLogger(__name__)


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


class NvmlMonitor:
    """Reads GPU 0 through NVML; ``available`` is False (said once in the log) without a driver."""

    def __init__(self) -> None:
        self.available = False
        self._handle = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self.available = True
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ImportError
            _LOG.info("VRAM monitor off: no NVIDIA driver (%s)", type(exc).__name__)

    def read(self) -> Reading | None:
        if not self.available:
            return None
        try:
            memory = self._nvml.nvmlDeviceGetMemoryInfo(self._handle)
            procs = self._nvml.nvmlDeviceGetComputeRunningProcesses(self._handle)
        except Exception as exc:
            _LOG.warning("VRAM reading failed: %s", exc)
            return None
        per_pid = {p.pid: (p.usedGpuMemory or 0) // 2**20 for p in procs}
        return Reading(memory.total // 2**20, memory.free // 2**20, per_pid)

    def close(self) -> None:
        if self.available:
            self._nvml.nvmlShutdown()


class FileMonitor:
    """Readings from a JSON file ``{"total_mb": .., "free_mb": ..}`` re-read at every poll.

    For fault-injection tests and for trying the policy on a machine without a GPU:
    ``SISYPHUS_VRAM_FILE=/path/vram.json sisyphus run``.
    """

    available = True

    def __init__(self, path: str) -> None:
        self.path = path

    def read(self) -> Reading | None:
        import json

        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
            return Reading(int(data["total_mb"]), int(data["free_mb"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def close(self) -> None:
        pass
