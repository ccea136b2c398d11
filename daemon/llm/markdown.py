"""Markdown to speakable text, as a streaming transducer.

LLMs answer in markdown even when asked not to; a TTS engine would read the
asterisks aloud. ``SpeakableText`` strips the markup as deltas arrive: emphasis,
inline code ticks, headers, list bullets, quotes, links (``[text](url)`` -> text),
table pipes; fenced code blocks are skipped whole (optionally replaced by a short
placeholder, said once).

Deltas may split anywhere (inside ``**``, a fence, a link), so the transducer is
an incremental lexer: each step either decides from the characters it has or
waits for more (``flush()`` decides with what is there). The output therefore
never depends on how the text was split. Newlines are kept: they are hard
breaks the sentence chunker splits on.
"""
from __future__ import annotations

import re

_FENCES = ("```", "~~~")
_SCAN_LIMIT = 300  # a link or code span longer than this is taken literally
_HEADER = re.compile(r"#{1,6}[ \t]")
_HEADER_PREFIX = re.compile(r"#{1,6}")
_ORDERED = re.compile(r"(\d{1,9})[.)][ \t]")
_ORDERED_PREFIX = re.compile(r"\d{1,9}[.)]?")
_PLAIN_RUN = re.compile(r"[^\n`*_\[!\\]+")
_TABLE_RULE = re.compile(r"[\s|:\-]*")
_ESCAPABLE = set("\\`*_{}[]()#+-.!|~<>")


class SpeakableText:
    """Feed markdown deltas, get plain text deltas (with ``\\n`` as hard breaks)."""

    def __init__(self, code_placeholder: str | None = None) -> None:
        self._raw = ""
        self._line_start = True
        self._fence: str | None = None
        self._placeholder = code_placeholder
        self._said_placeholder = False
        self._prev = " "  # last character emitted on this line: emphasis needs it

    def feed(self, delta: str) -> str:
        """Add a delta; return the text that is decided so far."""
        self._raw += delta
        return self._drain(final=False)

    def flush(self) -> str:
        """End of input: decide everything that was held back."""
        return self._drain(final=True)

    def _drain(self, final: bool) -> str:
        out: list[str] = []
        while self._raw:
            piece = self._step(final)
            if piece is None:
                break
            out.append(piece)
        return "".join(out)

    def _step(self, final: bool) -> str | None:
        """Consume a little of the buffer; None when the next decision needs more text."""
        if self._fence is not None:
            return self._fenced_line(final)
        if self._line_start:
            return self._line_start_step(final)
        return self._inline_step(final)

    # -- lines -----------------------------------------------------------------

    def _pop_line(self, final: bool) -> tuple[str, bool] | None:
        """The whole current line (without its newline) and whether it had one."""
        end = self._raw.find("\n")
        if end < 0:
            if not final:
                return None
            line, self._raw = self._raw, ""
            return line, False
        line, self._raw = self._raw[:end], self._raw[end + 1 :]
        return line, True

    def _fenced_line(self, final: bool) -> str | None:
        popped = self._pop_line(final)
        if popped is None:
            return None
        body = popped[0].strip()
        if self._fence and body.startswith(self._fence) and set(body) == {self._fence[0]}:
            self._fence = None
            self._line_start = True
        return ""

    def _line_start_step(self, final: bool) -> str | None:
        """Each handler answers False ("not my kind of line"), None (undecided) or output."""
        raw = self._raw
        stripped = raw.lstrip(" \t\r")
        if len(stripped) < len(raw):  # indentation says nothing to a listener
            self._raw = stripped
            return ""
        if raw[0] == "\n":
            self._raw = raw[1:]
            return "\n"
        for handler in (self._fence_open, self._header, self._table_row, self._quote,
                        self._rule_or_bullet, self._ordered_item):
            verdict = handler(final)
            if verdict is not False:
                return verdict  # type: ignore[return-value]
        self._line_start = False
        return ""

    def _undecided(self, prefix_of: bool, final: bool) -> bool:
        return prefix_of and not final

    def _fence_open(self, final: bool) -> str | None | bool:
        raw = self._raw
        if self._undecided(any(f.startswith(raw) and f != raw for f in _FENCES), final):
            return None
        marker = raw[:3]
        if marker not in _FENCES:
            return False
        if self._pop_line(final) is None:
            return None
        self._fence = marker
        if self._placeholder and not self._said_placeholder:
            self._said_placeholder = True
            return self._placeholder + "\n"
        return ""

    def _header(self, final: bool) -> str | None | bool:
        raw = self._raw
        match = _HEADER.match(raw)
        if match:
            self._raw = raw[match.end() :]
            self._line_start = False
            return ""
        return None if self._undecided(bool(_HEADER_PREFIX.fullmatch(raw)), final) else False

    def _table_row(self, final: bool) -> str | None | bool:
        if not self._raw.startswith("|"):
            return False
        popped = self._pop_line(final)
        if popped is None:
            return None
        line, had_newline = popped
        if _TABLE_RULE.fullmatch(line):
            return ""
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        # The row goes back into the buffer as plain inline text, so emphasis and
        # links inside cells are handled by the same code as everywhere else.
        self._raw = ", ".join(c for c in cells if c) + ("\n" if had_newline else "") + self._raw
        self._line_start = False
        return ""

    def _quote(self, final: bool) -> str | None | bool:
        if not self._raw.startswith(">"):
            return False
        self._raw = self._raw[1:]
        return ""

    def _rule_or_bullet(self, final: bool) -> str | None | bool:
        raw = self._raw
        mark = raw[0]
        if mark not in "-*_+":
            return False
        end = raw.find("\n")
        line = raw if end < 0 else raw[:end]
        if mark != "+" and set(line) <= {mark, " ", "\t", "\r"}:
            if end < 0 and not final:
                return None  # "---" (a rule) or "- item": not decidable yet
            if line.count(mark) >= 3:
                self._pop_line(final)
                return ""
        if len(raw) < 2 and not final:
            return None
        if mark == "_" or len(raw) < 2:
            return False
        if raw[1] in " \t":
            self._raw = raw[2:]
            self._line_start = False
            return ""
        return False

    def _ordered_item(self, final: bool) -> str | None | bool:
        raw = self._raw
        match = _ORDERED.match(raw)
        if match:
            # "1. Step" would read as a sentence "1." on its own; "1: Step" does not.
            self._raw = raw[match.end() :]
            self._line_start = False
            self._prev = " "
            return f"{match.group(1)}: "
        return None if self._undecided(bool(_ORDERED_PREFIX.fullmatch(raw)), final) else False

    # -- inline ----------------------------------------------------------------

    def _inline_step(self, final: bool) -> str | None:
        raw = self._raw
        head = raw[0]
        if head == "\n":
            self._raw = raw[1:]
            self._line_start = True
            self._prev = " "
            return "\n"
        if head == "`":
            return self._code_span(final)
        if head in "*_":
            return self._emphasis(final)
        if head == "[":
            return self._link(final)
        if head in "!\\":
            return self._bang_or_escape(final)
        match = _PLAIN_RUN.match(raw)
        assert match is not None
        return self._emit(match.group(), match.end())

    def _emit(self, text: str, consumed: int) -> str:
        self._raw = self._raw[consumed:]
        text = text.replace("\t", " ").replace("\r", "")
        if text:
            self._prev = text[-1]
        return text

    def _run_length(self, char: str) -> int:
        raw = self._raw
        n = 0
        while n < len(raw) and raw[n] == char:
            n += 1
        return n

    def _emphasis(self, final: bool) -> str | None:
        mark = self._raw[0]
        n = self._run_length(mark)
        if n == len(self._raw) and not final:
            return None
        after = self._raw[n] if n < len(self._raw) else " "
        before = self._prev
        if mark == "*":
            keep = (n == 1 and before.isspace() and after.isspace()) or (n <= 2 and before.isdigit() and after.isdigit())
        else:
            keep = before.isalnum() and after.isalnum()  # snake_case stays whole
        if keep:
            return self._emit(self._raw[:n], n)
        self._raw = self._raw[n:]
        return ""

    def _find_on_line(self, needle: str, start: int, final: bool) -> int | None:
        """Index of needle before the line ends; -1 when surely absent; None: undecided."""
        raw = self._raw
        limit = min(len(raw), start + _SCAN_LIMIT)
        found = raw.find(needle, start, limit)
        newline = raw.find("\n", start, limit)
        if found >= 0 and (newline < 0 or found < newline):
            return found
        if newline >= 0 or limit - start >= _SCAN_LIMIT or final:
            return -1
        return None

    def _code_span(self, final: bool) -> str | None:
        n = self._run_length("`")
        if n == len(self._raw) and not final:
            return None
        close = self._find_on_line("`" * n, n, final)
        if close is None:
            return None
        if close < 0:  # a lone tick: drop it
            self._raw = self._raw[n:]
            return ""
        return self._emit(self._raw[n:close], close + n)

    def _link(self, final: bool) -> str | None:
        close = self._find_on_line("]", 1, final)
        if close is None:
            return None
        if close >= 0 and close + 1 == len(self._raw) and not final:
            return None
        if close < 0 or self._raw[close + 1 : close + 2] != "(":
            return self._emit("[", 1)
        end = self._find_on_line(")", close + 2, final)
        if end is None:
            return None
        if end < 0:
            return self._emit("[", 1)
        # Put the link text back into the buffer: it may hold emphasis or code.
        self._raw = self._raw[1:close] + self._raw[end + 1 :]
        return ""

    def _bang_or_escape(self, final: bool) -> str | None:
        raw = self._raw
        if len(raw) < 2 and not final:
            return None
        nxt = raw[1:2]
        if raw[0] == "!":
            if nxt == "[":  # an image: its alt text follows as a link
                self._raw = raw[1:]
                return ""
            return self._emit("!", 1)
        if nxt and nxt in _ESCAPABLE:
            return self._emit(nxt, 2)
        return self._emit("\\", 1)
