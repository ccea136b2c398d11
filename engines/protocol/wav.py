"""WAV as both sides of the engine boundary read it: integer PCM with the plain header or
WAVE_FORMAT_EXTENSIBLE, whole (``parse_wav``) or still arriving (``data_chunk``).

Python's ``wave`` (before 3.12) refuses the extensible header, which sox, ffmpeg and many
recorders write for 24-bit, 32-bit or multichannel audio, so the RIFF chunks are read here.
Stdlib only: the daemon and every engine venv import it.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

PCM, EXTENSIBLE = 0x0001, 0xFFFE
# The KSDATAFORMAT_SUBTYPE_PCM GUID after its first two bytes (which hold the format tag).
_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")


class WavError(ValueError):
    """The bytes cannot be read as PCM WAV; the text says why."""


@dataclass(frozen=True)
class Wav:
    rate: int
    width: int  # bytes per sample
    channels: int
    data: bytes  # little-endian interleaved frames


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
