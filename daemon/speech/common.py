"""What every speech client shares, whatever its protocol: an audio chunk, and why an engine is unreachable."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Audio:
    rate: int
    width: int
    channels: int
    data: bytes


_UNREACHABLE = ((ConnectionRefusedError, "connection refused to"), (ConnectionResetError, "connection reset by"),
                (FileNotFoundError, "no socket at"), (TimeoutError, "no answer from"))


def unreachable(uri: str, exc: BaseException) -> str:
    """Why nothing answered at ``uri``, in the words ``status`` shows."""
    for kind, words in _UNREACHABLE:
        if isinstance(exc, kind):
            return f"unreachable ({words} {uri})"
    return f"unreachable ({uri}: {getattr(exc, 'strerror', None) or exc or type(exc).__name__})"
