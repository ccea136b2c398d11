"""Drop ``<think>...</think>`` blocks that some servers leave inside the reply text.

Reasoning models (DeepSeek-R1, Qwen3, ...) served without a reasoning parser put
their chain of thought into ``content`` between think tags; spoken, it would be
minutes of musing. Most servers now send it apart (``reasoning_content``), which
the client ignores anyway; this filter catches the rest. Streaming and
split-invariant: a tail that could be the start of a tag is held back.
"""
from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"


def _held_tail(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ThinkFilter:
    """Feed content deltas, get them back without think blocks."""

    def __init__(self) -> None:
        self._buf = ""
        self._inside = False

    def feed(self, delta: str) -> str:
        self._buf += delta
        out: list[str] = []
        while True:
            tag = CLOSE if self._inside else OPEN
            at = self._buf.find(tag)
            if at < 0:
                break
            if not self._inside:
                out.append(self._buf[:at])
            self._buf = self._buf[at + len(tag) :]
            self._inside = not self._inside
        keep = _held_tail(self._buf, CLOSE if self._inside else OPEN)
        if not self._inside:
            out.append(self._buf[: len(self._buf) - keep])
        self._buf = self._buf[len(self._buf) - keep :]
        return "".join(out)

    def flush(self) -> str:
        """The held-back tail; an unclosed think block is dropped."""
        rest, self._buf = ("" if self._inside else self._buf), ""
        return rest
