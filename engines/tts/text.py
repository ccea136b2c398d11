"""Text handling before the model: sentence splitting and the per-sentence token budget.

The model speaks one sentence per generate() call. Short calls keep the first audio
early, stop timbre drift on long inputs, and bound the KV cache; a cap on
``max_new_tokens`` derived from the text length keeps a sentence that never emits
EOS (random weights, a confused model) from talking for minutes.
"""
from __future__ import annotations

import re

FRAME_RATE = 12.5  # codec frames per second of audio (one talker step per frame)
# Sentence ends: Latin and CJK terminators, optionally followed by closing quotes/brackets.
_SENTENCE_END = re.compile(r"[.!?;…。！？；]+[\"'”’)\]」』]*(?=\s|$)|[。！？；]+|\n+")
_CLAUSE_END = re.compile(r"[,:，：、]\s")
MAX_SENTENCE_CHARS = 300


def split_sentences(text: str) -> list[str]:
    """Complete sentences of ``text`` (a tail without a terminator is a sentence too)."""
    done, rest = take_sentences(text)
    return done + ([rest.strip()] if rest.strip() else [])


def take_sentences(buffer: str) -> tuple[list[str], str]:
    """Split off the complete sentences of a growing buffer; return them and the remainder.

    Used on streamed input: text arrives in pieces, and a sentence is synthesised as
    soon as its terminator has arrived. Over-long runs without a terminator are cut at
    a clause, or at a space, so one call never overflows the model.
    """
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(buffer):
        if match.end() == len(buffer) and _may_continue(match.group()):
            break  # "1." may become "1.5": wait for the next character
        piece = buffer[start:match.end()].strip()
        if piece:
            sentences.extend(_cut_long(piece))
        start = match.end()
    rest = buffer[start:]
    while len(rest) > MAX_SENTENCE_CHARS:
        head, rest = _cut_once(rest)
        sentences.append(head)
    return sentences, rest


def _may_continue(terminator: str) -> bool:
    """A full stop at the very end of streamed text may be a decimal point or an abbreviation."""
    return terminator.rstrip("\"'”’)]」』").endswith(".")


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
