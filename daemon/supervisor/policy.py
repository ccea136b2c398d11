"""Restart policy: exponential backoff with jitter, and when to give up. Pure: fed durations."""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from daemon.backoff import Backoff


@dataclass
class RestartPolicy:
    initial_s: float = 0.5
    max_s: float = 8.0
    max_quick_failures: int = 5
    quick_failure_s: float = 30.0
    jitter: float = 0.25  # +-25 %
    give_up: bool = True  # remote engines never give up: the box may come back
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self, run_s: float, served: bool = False) -> float | None:
        """Delay before the next start after a run of ``run_s`` seconds; None = give up (FAILED).

        A run that lasted ``quick_failure_s`` or served a request was healthy: its end is a
        fresh failure (a kill, an OOM), not part of a crash loop, so the count starts over."""
        if run_s >= self.quick_failure_s or served:
            self.failures = 0
        self.failures += 1
        if self.give_up and self.failures >= self.max_quick_failures:
            return None
        return Backoff(self.initial_s, 2.0, self.max_s, self.jitter).delay(self.failures - 1, self.rng.random())

    def reset(self) -> None:
        self.failures = 0
