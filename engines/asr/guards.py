"""Bounds on generation: a token budget from the audio length, and a repetition-loop detector.

LLM-based ASR can loop ("要要要要…", a sentence over and over; zai-org/GLM-ASR
issues #3 and #26). Two guards, both pure and unit-tested: the budget caps how
many tokens a window of audio may produce at all (fast speech is ~5 tokens/s;
the budget allows twice that), and the loop detector stops decoding as soon as the
output ends in the same unit repeated many times, after which the repeats are cut.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

BASE_TOKENS = 16
TOKENS_PER_SECOND = 10.0
MAX_TOKENS = 400
MIN_REPEATS = 4
MIN_REPEATED_TOKENS = 12
MAX_PERIOD = 32


def token_budget(seconds: float) -> int:
    """The most new tokens a window of ``seconds`` of audio may produce."""
    return min(MAX_TOKENS, BASE_TOKENS + math.ceil(TOKENS_PER_SECOND * max(seconds, 0.0)))


def _copies(ids: Sequence[int], period: int) -> int:
    """How many times the last ``period`` tokens repeat back-to-back at the end of ``ids``."""
    n = len(ids)
    unit = list(ids[n - period:])
    count = 1
    while (count + 1) * period <= n and list(ids[n - (count + 1) * period:n - count * period]) == unit:
        count += 1
    return count


def loop_period(ids: Sequence[int]) -> int:
    """The period of a repetition loop at the end of ``ids``, or 0 when there is none.

    A loop is a unit of 1..32 tokens repeated at least 4 times and over at least 12
    tokens in all: "no no no" or a doubled phrase is speech, twelve of them is not.
    """
    for period in range(1, min(MAX_PERIOD, len(ids) // MIN_REPEATS) + 1):
        needed = max(MIN_REPEATS, math.ceil(MIN_REPEATED_TOKENS / period))
        if needed * period <= len(ids) and _copies(ids, period) >= needed:
            return period
    return 0


def cut_loop(ids: Sequence[int]) -> list[int]:
    """``ids`` with a trailing loop reduced to one copy of its unit (unchanged without a loop)."""
    period = loop_period(ids)
    if not period:
        return list(ids)
    return list(ids[:len(ids) - (_copies(ids, period) - 1) * period])
