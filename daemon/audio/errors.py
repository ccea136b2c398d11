"""The audio error: a device or stream problem, saying what and what to do."""
from __future__ import annotations


class AudioError(RuntimeError):
    """An audio device or stream problem; the message says what and what to do."""
