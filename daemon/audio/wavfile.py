"""Reading WAV files the user names (``--mic-file``, a reference clip): integer PCM with the
plain or the extensible header (engines/protocol/wav.py reads the bytes). Errors say what the
file is and how to convert it; a file that is not there says so (no conversion helps then).
"""
from __future__ import annotations

from pathlib import Path

from engines.protocol.wav import Wav, WavError, parse_wav

__all__ = ["MAX_BYTES", "Wav", "WavError", "parse_wav", "read_wav"]

MAX_BYTES = 512 * 1024 * 1024  # bigger than any sensible recording; a bound on memory


def read_wav(path: Path, what: str = "") -> Wav:
    """The file's audio; WavError names ``what`` (e.g. "--mic-file"), the file and the fix."""
    label = f"{what} {path}".strip()
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise WavError(f"{label}: {size / 2**20:.0f} MB is too long for a recording; cut it shorter")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise WavError(f"{label}: No such file; check the path") from None
    except IsADirectoryError:
        raise WavError(f"{label}: Is a directory; name a WAV file") from None
    except OSError as exc:
        raise WavError(f"{label}: cannot be read ({exc.strerror or exc})") from None
    try:
        return parse_wav(raw)
    except WavError as exc:
        raise WavError(f"{label}: not a readable PCM WAV file ({exc}); convert it, e.g. "
                       f"`ffmpeg -i {path.name} -c:a pcm_s16le {path.stem}-pcm.wav`") from None
