"""LLM text deltas in, TTS chunks out: a pure, split-invariant sentence chunker.

Latency matters most for the first chunk: the TTS engine cannot start before it
has one. The rules of where a chunk may end (first clause early, then sentences;
abbreviations, decimals, ellipses) are the contract shared with the engines, in
``engines.protocol.chunking``; this module adds what only the daemon does: markdown
made speakable first (``daemon.llm.markdown``; its newlines are hard breaks), and
cutting only where the text that follows proves the boundary, so the chunks never
depend on how the text was split into deltas. ``flush()`` decides at the end.

Chunks keep their whitespace: joined, they give back the speakable text (a chunk
ends after the space that follows its terminator, "Sure. "), which is what every
Wyoming TTS server expects of ``synthesize-chunk`` texts.
"""
from __future__ import annotations

from daemon.llm.markdown import SpeakableText
from engines.protocol.chunking import ChunkRules, find_boundary, speakable, take_chunks

__all__ = ["ChunkRules", "SentenceChunker", "find_boundary", "speakable"]


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
        return self._take(final=False)

    def flush(self) -> list[str]:
        """End of the reply: return what was held back (an unspeakable tail is dropped)."""
        self._text += self._markdown.flush()
        chunks = self._take(final=True)
        self._text = ""
        return chunks

    def _take(self, final: bool) -> list[str]:
        chunks, self._text = take_chunks(self._text, first=self._first, final=final, rules=self._rules)
        self._first = self._first and not chunks
        return chunks
