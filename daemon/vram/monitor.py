"""GPU memory readings: through NVML (no CUDA context of its own), or from a JSON file for tests."""
from __future__ import annotations

import json
import logging
import os
from typing import Protocol

from . import nvml
from .policy import Reading

_LOG = logging.getLogger(__name__)


class Monitor(Protocol):
    """GPU memory readings; ``available`` is False when there are none to take (no driver)."""

    @property
    def available(self) -> bool: ...
    def read(self) -> Reading | None: ...
    def close(self) -> None: ...


def create_monitor(enabled: bool) -> Monitor | None:
    """The monitor the settings ask for: None when off, a file when SISYPHUS_VRAM_FILE names one."""
    if not enabled:
        return None
    if path := os.environ.get("SISYPHUS_VRAM_FILE"):
        return FileMonitor(path)
    return NvmlMonitor()


class NvmlMonitor:
    """Reads GPU 0 through NVML; ``available`` is False (said once in the log) without a driver."""

    def __init__(self) -> None:
        self.available = False
        self._handle = None
        self._nvml, why = nvml.open_nvml()
        if self._nvml is None:
            _LOG.info("VRAM monitor off: %s", why)
            return
        try:
            self._handle = self._nvml.nvmlDeviceGetHandleByIndex(0)
            self.available = True
        except self._nvml.NVMLError as exc:
            _LOG.info("VRAM monitor off: %s", exc)
            self._nvml.nvmlShutdown()

    def read(self) -> Reading | None:
        nvml = self._nvml
        if not self.available or nvml is None:
            return None
        try:
            memory = nvml.nvmlDeviceGetMemoryInfo(self._handle)
            procs = nvml.nvmlDeviceGetComputeRunningProcesses(self._handle)
        except Exception as exc:
            _LOG.warning("VRAM reading failed: %s", exc)
            return None
        per_pid = {p.pid: (p.usedGpuMemory or 0) // 2**20 for p in procs}
        return Reading(memory.total // 2**20, memory.free // 2**20, per_pid)

    def close(self) -> None:
        if self.available and self._nvml is not None:
            self._nvml.nvmlShutdown()
            self.available = False


class FileMonitor:
    """Readings from a JSON file ``{"total_mb": .., "free_mb": ..}`` re-read at every poll.

    For fault-injection tests and for trying the policy on a machine without a GPU:
    ``SISYPHUS_VRAM_FILE=/path/vram.json sisyphus run``.
    """

    available = True

    def __init__(self, path: str) -> None:
        self.path = path

    def read(self) -> Reading | None:
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
            return Reading(int(data["total_mb"]), int(data["free_mb"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def close(self) -> None:
        pass
