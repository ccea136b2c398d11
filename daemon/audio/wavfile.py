"""Reading integer PCM WAV files, with the plain header or WAVE_FORMAT_EXTENSIBLE.

Python's ``wave`` (before 3.12) refuses the extensible header, which sox, ffmpeg and
many recorders write for 24-bit, 32-bit or multichannel audio; the help promises any
PCM WAV, so the RIFF chunks are read here. Errors say what the file is and how to
convert it; a file that is not there says so (no conversion helps then).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

PCM, EXTENSIBLE = 0x0001, 0xFFFE
# The KSDATAFORMAT_SUBTYPE_PCM GUID after its first two bytes (which hold the format tag).
_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")
MAX_BYTES = 512 * 1024 * 1024  # bigger than any sensible recording; a bound on memory


class WavError(ValueError):
    """The file cannot be read as PCM WAV; the text says why."""


@dataclass(frozen=True)
class Wav:
    rate: int
    width: int  # bytes per sample
    channels: int
    data: bytes  # little-endian interleaved frames


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


def parse_wav(raw: bytes) -> Wav:
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise WavError("no RIFF/WAVE header")
    chunks = _chunks(raw)
    fmt, data = chunks.get(b"fmt "), chunks.get(b"data")
    if fmt is None or len(fmt) < 16:
        raise WavError("no fmt chunk")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == EXTENSIBLE and len(fmt) >= 40 and fmt[26:40] == _GUID_TAIL:
        tag = struct.unpack_from("<H", fmt, 24)[0]
    if tag != PCM:
        raise WavError(f"its samples are not integer PCM (format tag {tag:#06x})")
    if bits not in (8, 16, 24, 32) or not channels or not rate:
        raise WavError(f"{bits}-bit, {channels} channel(s) at {rate} Hz is not supported; 8, 16, 24 or 32-bit")
    if data is None:
        raise WavError("no data chunk")
    frame = bits // 8 * channels
    return Wav(rate, bits // 8, channels, data[:len(data) - len(data) % frame])


def _chunks(raw: bytes) -> dict[bytes, bytes]:
    """The RIFF chunks by id (the first of each); a data chunk cut short keeps what is there."""
    out: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(raw):
        cid, size = raw[pos:pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        out.setdefault(cid, raw[pos + 8:pos + 8 + size])
        pos += 8 + size + (size & 1)
    return out


def data_chunk(head: bytes) -> tuple[int, int] | None:
    """Where the data chunk's samples start in a WAV that is still arriving, and its declared size;
    None until its header is all there. (A streamed WAV declares 0 or 0xFFFFFFFF: size unknown.)"""
    if len(head) >= 4 and head[:4] != b"RIFF" or len(head) >= 12 and head[8:12] != b"WAVE":
        raise WavError("no RIFF/WAVE header")
    pos = 12
    while pos + 8 <= len(head):
        cid, size = head[pos:pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        if cid == b"data":
            return pos + 8, size
        pos += 8 + size + (size & 1)
    return None
