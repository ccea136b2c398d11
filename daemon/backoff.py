"""Exponential backoff with jitter: the one delay rule for every retry in the daemon.

Pure: the caller passes the attempt number and a random number, so tests fix both.
Jitter keeps clients that failed together (engines, reconnects, LLM requests) from
retrying together.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delay before retry ``attempt`` (0-based): exponential, capped, with jitter."""

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 4.0
    jitter: float = 0.2  # +-20 %

    def delay(self, attempt: int, rand: float) -> float:
        """``rand`` in [0, 1) comes from the caller so tests can fix it."""
        base = min(self.max_s, self.initial_s * self.factor**attempt)
        return max(0.0, base * (1.0 + self.jitter * (2.0 * rand - 1.0)))
