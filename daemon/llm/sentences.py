"""LLM text deltas in, TTS chunks out: a pure, split-invariant sentence chunker.

Latency matters most for the first chunk: the TTS engine cannot start before it
has one. So the first chunk is a clause (a comma, colon, semicolon or dash after
``first_min_words`` words) or, failing that, forced at a word boundary after
``first_max_words``. Later chunks are whole sentences; a long sentence is split at
a clause after ``long_sentence_words`` and forced after ``max_words``.

A period only ends a sentence when whitespace follows (so "3.14", "1,000",
"$5.99", "example.com/a.b" and "a@b.org" never split) and the word before it is
not an abbreviation ("e.g.", "Dr.", "U.S."); ellipses never end a chunk. Deciding
may need the next character or word, so the chunker holds text back until the
answer is known and ``flush()`` decides at the end: the chunks never depend on
how the text was split into deltas. Markdown is made speakable first
(``daemon.llm.markdown``); its newlines are hard breaks.
"""
from __future__ import annotations

from dataclasses import dataclass

from daemon.llm.markdown import SpeakableText

_TERMINALS = ".!?…"
_CLOSERS = "\"')]}”’»"
_OPENERS = "\"'([{“‘«"
_CLAUSE = ",;:"
_DASHES = "-–"
# Never end a sentence: they are (almost) always followed by more of it.
_NEVER = frozenset(
    "mr mrs ms dr prof st mt sr jr gen col capt lt sgt rev hon vs e.g i.e cf approx ca viz".split()
)
# End a sentence unless a number follows ("No. 5", "Fig. 3").
_BEFORE_NUMBER = frozenset("no nr fig figs vol p pp ch sec art eq ex op".split())
# End a sentence only when a capital follows ("apples, etc. The ...").
_UNLESS_LOWER = frozenset("etc inc ltd co corp al a.m p.m".split())
_NEED = object()  # sentinel: the decision needs more text


@dataclass(frozen=True)
class ChunkRules:
    """Where chunks may end; word counts include the word being read."""

    first_min_words: int = 4
    first_max_words: int = 12
    long_sentence_words: int = 24
    max_words: int = 40


class SentenceChunker:
    """Feed deltas, get chunks; one instance per reply."""

    def __init__(self, rules: ChunkRules | None = None, code_placeholder: str | None = None) -> None:
        """``code_placeholder`` (e.g. "(code omitted)") is said once, at the first code block."""
        self._rules = rules or ChunkRules()
        self._markdown = SpeakableText(code_placeholder)
        self._text = ""
        self._first = True

    def feed(self, delta: str) -> list[str]:
        """Add an LLM delta; return the chunks it completed (often none)."""
        self._text += self._markdown.feed(delta)
        return self._drain(final=False)

    def flush(self) -> list[str]:
        """End of the reply: return what was held back."""
        self._text += self._markdown.flush()
        return self._drain(final=True)

    def _drain(self, final: bool) -> list[str]:
        out: list[str] = []
        while self._text:
            end = find_boundary(self._text, first=self._first, final=final, rules=self._rules)
            if end is None:
                if not final:
                    break
                end = len(self._text)
            chunk = speakable(self._text[:end])
            self._text = self._text[end:]
            if chunk:
                out.append(chunk)
                self._first = False
        return out


def speakable(text: str) -> str:
    """Whitespace collapsed; empty when nothing in it could be spoken."""
    text = " ".join(text.split())
    return text if any(ch.isalnum() for ch in text) else ""


def find_boundary(text: str, *, first: bool, final: bool, rules: ChunkRules) -> int | None:
    """Where the next chunk ends (it is ``text[:i]``), or None when not yet decidable.

    Scans left to right and stops at the first position whose verdict needs text
    that has not arrived: no later position may be decided before it.
    """
    min_clause = rules.first_min_words if first else rules.long_sentence_words
    max_words = rules.first_max_words if first else rules.max_words
    words, in_word = 0, False
    for i, char in enumerate(text):
        if char == "\n":
            return i + 1
        if char.isspace():
            words += in_word
            in_word = False
            if words >= max_words:
                return i
            continue
        in_word = True
        verdict = None
        if char in _TERMINALS:
            verdict = _sentence_end(text, i, final)
        elif words + 1 >= min_clause:
            verdict = _clause_end(text, i, final)
        if verdict is _NEED:
            return None
        if verdict is not None:
            return verdict  # type: ignore[return-value]
    return None


def _sentence_end(text: str, i: int, final: bool) -> object:
    """End index if the terminal at ``i`` ends a sentence, None if not, _NEED if unknown."""
    j = i
    while j < len(text) and text[j] in _TERMINALS:
        j += 1
    run = text[i:j]
    if i > 0 and text[i - 1] in _TERMINALS:
        return None  # inside a run that was already judged from its start
    while j < len(text) and text[j] in _CLOSERS:
        j += 1
    if j == len(text):
        return j if final else _NEED
    if not text[j].isspace() or ".." in run or "…" in run:
        return None  # "3.14", "a.b", and ellipses ("Well... yes") never end a chunk
    if run != ".":
        return j
    return _after_period(text, i, j, final)


def _after_period(text: str, i: int, j: int, final: bool) -> object:
    start = max(text.rfind(" ", 0, i), text.rfind("\n", 0, i)) + 1
    token = text[start:i].lstrip(_OPENERS)
    low = token.lower()
    if low in _NEVER or (len(token) == 1 and token.isupper()):
        return None  # "Dr. Smith", "J. R. R. Tolkien"
    if "." in token and all(len(part) == 1 for part in low.split(".")) and low not in _UNLESS_LOWER:
        return None  # "U.S.", "e.g." written without the last dot judged here
    if low not in _BEFORE_NUMBER and low not in _UNLESS_LOWER:
        return j
    nxt = _next_visible(text, j)
    if nxt is None:
        return j if final else _NEED
    if low in _BEFORE_NUMBER:
        return None if nxt.isdigit() else j
    return j if nxt.isupper() else None


def _next_visible(text: str, j: int) -> str | None:
    for char in text[j:]:
        if not char.isspace():
            return char
    return None


def _clause_end(text: str, i: int, final: bool) -> object:
    """A clause may end after ", ; :" + space, after an em dash, or at " - "."""
    char = text[i]
    if char == "—":
        return i + 1
    spaced_dash = char in _DASHES and i > 0 and text[i - 1] == " "
    if char not in _CLAUSE and not spaced_dash:
        return None
    if i + 1 == len(text):
        return i + 1 if final else _NEED
    return i + 1 if text[i + 1].isspace() else None
