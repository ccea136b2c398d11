"""engines.protocol.pcm: the one PCM decoder of the daemon and the engines."""
from __future__ import annotations

import numpy as np
import pytest

from engines.protocol.pcm import PcmStream, pcm_to_float, pcm_to_mono


@pytest.mark.parametrize("width,dtype,scale", [(2, "<i2", 32767), (4, "<i4", 2**31 - 1)])
def test_signed_widths_map_full_scale_to_one(width: int, dtype: str, scale: int) -> None:
    values = np.array([0, scale, -scale - 1, scale // 2], dtype=dtype)
    out = pcm_to_float(values.tobytes(), width, 1)
    assert out.shape == (4, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0], [0.0, 1.0, -1.0, 0.5], atol=1e-4)


def test_24_bit_and_unsigned_8_bit() -> None:
    s24 = b"".join(v.to_bytes(3, "little", signed=True) for v in (0, 2**23 - 1, -(2**23), 2**22, -(2**22)))
    np.testing.assert_allclose(pcm_to_float(s24, 3, 1)[:, 0], [0.0, 1.0, -1.0, 0.5, -0.5], atol=1e-6)
    np.testing.assert_allclose(pcm_to_float(bytes([128, 255, 0, 192]), 1, 1)[:, 0], [0.0, 0.992, -1.0, 0.5],
                               atol=1e-3)


def test_channels_are_interleaved_and_mono_averages_them() -> None:
    stereo = np.array([16384, -16384, 8192, 8192], dtype="<i2").tobytes()  # frames (L, R)
    np.testing.assert_allclose(pcm_to_float(stereo, 2, 2), [[0.5, -0.5], [0.25, 0.25]])
    np.testing.assert_allclose(pcm_to_mono(stereo, 2, 2), [0.0, 0.25])
    assert pcm_to_mono(stereo, 2, 1).shape == (4,)


def test_bad_layouts_are_named() -> None:
    with pytest.raises(ValueError, match="width 5"):
        pcm_to_float(b"\0" * 10, 5, 1)
    with pytest.raises(ValueError, match="channels must be >= 1"):
        pcm_to_float(b"\0" * 2, 2, 0)
    with pytest.raises(ValueError, match="multiple of the frame size 4"):
        pcm_to_float(b"\0" * 6, 2, 2)


@pytest.mark.parametrize("width,channels", [(2, 1), (3, 2), (4, 2), (1, 3)])
def test_a_stream_cut_anywhere_decodes_like_the_whole(width: int, channels: int) -> None:
    rng = np.random.default_rng(width * 10 + channels)
    data = rng.integers(0, 256, size=width * channels * 301, dtype=np.uint8).tobytes()
    whole = pcm_to_float(data, width, channels)
    stream, parts, i = PcmStream(width, channels), [], 0
    for size in rng.integers(1, 7, size=len(data)):  # odd chunk sizes, frames split across chunks
        parts.append(stream.feed(data[i:i + int(size)]))
        i += int(size)
        if i >= len(data):
            break
    assert stream.pending == b""
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_a_stream_keeps_a_partial_frame_until_it_is_completed() -> None:
    stream = PcmStream(2, 1)
    assert stream.feed(b"\x00").shape == (0, 1) and stream.pending == b"\x00"
    np.testing.assert_allclose(stream.feed(b"\x40\x00")[:, 0], [0.5])  # 0x4000 = 16384, then a new half
    assert stream.pending == b"\x00"
