"""GPU memory per process, as nvidia-smi reports it (includes each process's CUDA context). Benchmarks only."""
from __future__ import annotations

import shutil
import subprocess
import threading

QUERY = ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"]


def mib_by_pid() -> dict[int, int] | None:
    """MiB used by each compute process now; None where nvidia-smi is missing or does not answer."""
    try:
        out = subprocess.run(QUERY, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    rows = [line.split(",") for line in out.splitlines() if line.count(",") == 1]
    return {int(pid): int(mb) for pid, mb in rows if mb.strip().isdigit()}


class GpuMemory:
    """Polls nvidia-smi: MiB per compute process, the latest sample and the peak of each."""

    def __init__(self, interval_s: float = 0.2) -> None:
        self.available = shutil.which("nvidia-smi") is not None
        self.latest: dict[int, int] = {}
        self.peak: dict[int, int] = {}
        self.peak_total = 0
        self._stop = threading.Event()
        if self.available:
            self.sample()
            threading.Thread(target=self._poll, args=(interval_s,), daemon=True).start()

    def sample(self) -> dict[int, int]:
        self.latest = mib_by_pid() or {}
        return self.latest

    def reset_peak(self) -> None:
        self.peak, self.peak_total = dict(self.latest), sum(self.latest.values())

    def _poll(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            for pid, mb in self.sample().items():
                self.peak[pid] = max(mb, self.peak.get(pid, 0))
            self.peak_total = max(self.peak_total, sum(self.latest.values()))

    def close(self) -> None:
        self._stop.set()
