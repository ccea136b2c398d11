"""Text handling before the model: the pieces it speaks and the per-piece token budget.

The model speaks one sentence per generate() call. Short calls keep the first audio
early, stop timbre drift on long inputs, and bound the KV cache; a cap on
``max_new_tokens`` derived from the text length keeps a sentence that never emits
EOS (random weights, a confused model) from talking for minutes.
"""
from __future__ import annotations

import re

from engines.protocol.chunking import ChunkIntake, split_text

FRAME_RATE = 12.5  # codec frames per second of audio (one talker step per frame)
_CLAUSE_END = re.compile(r"[,:，：、]\s")
MAX_SENTENCE_CHARS = 300


def split_sentences(text: str) -> list[str]:
    """A whole text (plain ``synthesize``) in the pieces the model speaks, by the shared chunking rules."""
    return [piece for chunk in split_text(text) for piece in _cut_long(chunk)]


class SentenceStream:
    """Streamed ``synthesize-chunk`` texts in, pieces to speak out, as soon as each is complete.

    The boundaries are the shared contract (engines.protocol.chunking): a client chunk that
    ends where speech may start is spoken at once, glued sentences are split, and token-sized
    chunks wait until a boundary. Only the model's own limit is added here: a piece never
    exceeds MAX_SENTENCE_CHARS, and an undecided rest that outgrows it is cut.
    """

    def __init__(self) -> None:
        self._intake = ChunkIntake()

    def feed(self, chunk: str) -> list[str]:
        pieces = [p for piece in self._intake.feed(chunk) for p in _cut_long(piece)]
        while len(self._intake.text) > MAX_SENTENCE_CHARS:
            head, self._intake.text = _cut_once(self._intake.text)
            pieces.append(head)
        return pieces

    def finish(self) -> list[str]:
        return [p for piece in self._intake.finish() for p in _cut_long(piece)]


def _cut_long(sentence: str) -> list[str]:
    pieces = []
    while len(sentence) > MAX_SENTENCE_CHARS:
        head, sentence = _cut_once(sentence)
        pieces.append(head)
    return pieces + ([sentence.strip()] if sentence.strip() else [])


def _cut_once(text: str) -> tuple[str, str]:
    """Cut ``text`` before MAX_SENTENCE_CHARS: at the last clause end, else the last space."""
    window = text[:MAX_SENTENCE_CHARS]
    clauses = [m.end() for m in _CLAUSE_END.finditer(window)]
    cut = clauses[-1] if clauses else window.rfind(" ") + 1
    if cut <= MAX_SENTENCE_CHARS // 3:
        cut = MAX_SENTENCE_CHARS  # no good break (e.g. CJK without punctuation): cut hard
    return text[:cut].strip(), text[cut:]


def max_frames(text: str, hard_cap: int) -> int:
    """Upper bound of codec frames for speaking ``text``.

    Slow speech is about 12 Latin characters or 3 CJK characters per second; allow
    twice that time plus two seconds of slack, never above ``hard_cap``.
    """
    cjk = sum(1 for ch in text if ord(ch) >= 0x2E80)
    seconds = 2.0 + 2.0 * ((len(text) - cjk) / 12.0 + cjk / 3.0)
    return max(8, min(hard_cap, int(seconds * FRAME_RATE)))
