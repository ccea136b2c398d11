"""Where speech may start: the chunking contract between the LLM stream and any Wyoming TTS.

The daemon cuts the LLM's (speakable) text into chunks and sends each one to the TTS
engine the moment it is complete; the engine speaks each chunk as it arrives. Both sides
judge boundaries with the same rules, so the engine never re-splits what the daemon
already decided nor waits for text that will not come:

- Chunks concatenate back to the text: whitespace is kept. A chunk ends *after* the one
  whitespace character that follows its terminator ("Sure. ", "It is sunny, "): upstream
  servers find a sentence end at a terminator followed by whitespace, and the engine
  knows from that whitespace that the chunk is complete.
- The first chunk is a clause (a comma, colon, semicolon or spaced dash after
  ``first_min_words`` words, or an em dash) or, failing that, forced at a word boundary
  after ``first_max_words``. Later chunks are whole sentences; a long sentence is split at a
  clause after ``long_sentence_words`` and forced after ``max_words``.
- A period ends a sentence only when whitespace follows (so "3.14", "$5.99",
  "example.com/a.b" never split) and the word before it is not an abbreviation ("e.g.",
  "Dr.", "U.S."); ellipses never end a chunk. CJK terminators (。！？) need no whitespace.
  A newline is a hard break.
- Deciding may need the next character or word: the decision is held back until that text
  has arrived (``final=False``), so chunks never depend on how the text was split into
  deltas. ``final=True`` means nothing more will come.

Where the two sides deliberately differ:
- The daemon (``daemon.llm.sentences``) only cuts where the text that follows proves the
  boundary (``final=False``); markdown and think tags are its business alone.
- An engine also honours the *client's* chunk boundary (``ChunkIntake``): text that ends
  in whitespace (or a CJK terminator) at a place these rules would end a chunk if nothing
  followed is spoken at once, instead of waiting for a next chunk that only tells it what it already knows.
  Token-sized chunks (Home Assistant streams LLM deltas) still never make it speak a word
  fragment, and glued multi-sentence text is still split at sentence ends.
"""
from __future__ import annotations

from dataclasses import dataclass

TERMINALS = ".!?…"
CJK_TERMINALS = "。！？"
CLOSERS = "\"')]}”’»」』）》】"
OPENERS = "\"'([{“‘«「『（"
CLAUSE = ",;:"
DASHES = "-–"
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


def speakable(text: str) -> bool:
    """Whether anything in ``text`` could be spoken (a chunk of only spaces or marks is not)."""
    return any(ch.isalnum() for ch in text)


def take_chunks(text: str, *, first: bool, final: bool, rules: ChunkRules) -> tuple[list[str], str]:
    """Split the complete chunks off ``text``; return them and the undecided rest.

    Whitespace and marks that cannot be spoken on their own stay in front of the next
    chunk, so ``"".join(chunks) + rest == text`` (with ``final``, an unspeakable rest is
    appended to the last chunk, or returned as the rest when there is none).
    """
    chunks: list[str] = []
    start = pos = 0
    while pos < len(text):
        end = find_boundary(text[pos:], first=first and not chunks, final=final, rules=rules)
        if end is None:
            if not final:
                break
            end = len(text) - pos
        pos += end
        if speakable(text[start:pos]):
            chunks.append(text[start:pos])
            start = pos
    if final and chunks and start < len(text):
        chunks[-1] += text[start:]
        start = len(text)
    return chunks, text[start:]


def ends_at_break(text: str, *, first: bool, rules: ChunkRules) -> bool:
    """Whether ``text`` ends where speech may start, if nothing followed it.

    True for "Sure. ", "The answer is 42. ", "Apples, etc. ", "Sure, I can help, " (first
    chunk) and "你好。" (CJK needs no space); False for "Version 1." (may become 1.5),
    "I saw Dr. ", "Hel" or "Well, ".
    """
    if not text or not (text[-1].isspace() or text[-1] in CJK_TERMINALS):
        return False
    return find_boundary(text, first=first, final=True, rules=rules) == len(text)


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
                return i + 1
            continue
        in_word = True
        verdict = None
        if char in TERMINALS or char in CJK_TERMINALS:
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
    while j < len(text) and (text[j] in TERMINALS or text[j] in CJK_TERMINALS):
        j += 1
    run = text[i:j]
    if i > 0 and (text[i - 1] in TERMINALS or text[i - 1] in CJK_TERMINALS):
        return None  # inside a run that was already judged from its start
    while j < len(text) and text[j] in CLOSERS:
        j += 1
    if j == len(text):
        if not final:
            return _NEED
        return _after_period(text, i, j, final) if run == "." else j
    if run[-1] in CJK_TERMINALS:
        return _with_space(text, j)
    if not text[j].isspace() or ".." in run or "…" in run:
        return None  # "3.14", "a.b", and ellipses ("Well... yes") never end a chunk
    if run != ".":
        return j + 1
    return _after_period(text, i, j, final)


def _with_space(text: str, j: int) -> int:
    """The chunk ends at ``j``, taking one following whitespace character with it."""
    return j + 1 if j < len(text) and text[j].isspace() else j


def _after_period(text: str, i: int, j: int, final: bool) -> object:
    start = max(text.rfind(" ", 0, i), text.rfind("\n", 0, i)) + 1
    token = text[start:i].lstrip(OPENERS)
    low = token.lower()
    if low in _NEVER or (len(token) == 1 and token.isupper()):
        return None  # "Dr. Smith", "J. R. R. Tolkien"
    if "." in token and all(len(part) == 1 for part in low.split(".")) and low not in _UNLESS_LOWER:
        return None  # "U.S.", "e.g." written without the last dot judged here
    if low not in _BEFORE_NUMBER and low not in _UNLESS_LOWER:
        return _with_space(text, j)
    nxt = _next_visible(text, j)
    if nxt is None:
        return _with_space(text, j) if final else _NEED
    if low in _BEFORE_NUMBER:
        return None if nxt.isdigit() else _with_space(text, j)
    return _with_space(text, j) if nxt.isupper() else None


def _next_visible(text: str, j: int) -> str | None:
    for char in text[j:]:
        if not char.isspace():
            return char
    return None


def _clause_end(text: str, i: int, final: bool) -> object:
    """A clause may end after ", ; :" + space, after an em dash, or at " - "."""
    char = text[i]
    if char == "—":
        return _with_space(text, i + 1) if i + 1 < len(text) or final else _NEED
    spaced_dash = char in DASHES and i > 0 and text[i - 1] == " "
    if char not in CLAUSE and not spaced_dash:
        return None
    if i + 1 == len(text):
        return i + 1 if final else _NEED
    return i + 2 if text[i + 1].isspace() else None


class ChunkIntake:
    """An engine's side: ``synthesize-chunk`` texts in, texts to speak out (stripped).

    Speaks every complete chunk by the shared rules, and the text so far when the client's
    chunk ended where speech may start (see the module docstring).
    """

    def __init__(self, rules: ChunkRules | None = None) -> None:
        self.rules = rules or ChunkRules()
        self.text = ""
        self.first = True

    def feed(self, chunk: str) -> list[str]:
        self.text += chunk
        pieces, self.text = take_chunks(self.text, first=self.first, final=False, rules=self.rules)
        if speakable(self.text) and ends_at_break(self.text, first=self.first and not pieces, rules=self.rules):
            pieces.append(self.text)
            self.text = ""
        return self._out(pieces)

    def finish(self) -> list[str]:
        pieces, self.text = take_chunks(self.text, first=self.first, final=True, rules=self.rules)
        self.text = ""
        return self._out(pieces)

    def _out(self, pieces: list[str]) -> list[str]:
        self.first = self.first and not pieces
        return [piece.strip() for piece in pieces]


def split_text(text: str, rules: ChunkRules | None = None) -> list[str]:
    """A whole text (one ``synthesize`` request) cut into the pieces to speak, stripped."""
    chunks, _ = take_chunks(text, first=True, final=True, rules=rules or ChunkRules())
    return [chunk.strip() for chunk in chunks]
