"""--mic-file / --speaker-file without devices: any PCM WAV in, the whole reply out."""
from __future__ import annotations

import asyncio
import wave

import numpy as np
import pytest

from daemon.audio.files import QUEUE_CHUNKS, FileSpeaker, check_speaker_file, read_mic_wav
from daemon.audio.wavfile import parse_wav
from daemon.speech.clients import Audio


def write(path, data: bytes, rate: int, width: int, channels: int):
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(data)
    return path


def test_any_pcm_wav_becomes_16k_mono(tmp_path):
    t = np.arange(44100) / 44100
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    stereo = np.stack([tone, tone], axis=1).tobytes()
    pcm = read_mic_wav(write(tmp_path / "a.wav", stereo, 44100, 2, 2))
    samples = np.frombuffer(pcm, "<i2")
    assert abs(len(samples) - 16000) <= 2 and 0.4 * 32767 < np.abs(samples).max() < 0.6 * 32767
    eight_bit = (np.full(8000, 128, np.uint8)).tobytes()  # 1 s of 8 kHz unsigned silence
    assert len(read_mic_wav(write(tmp_path / "b.wav", eight_bit, 8000, 1, 1))) == 2 * 16000


def test_a_file_that_is_not_pcm_wav_says_what_to_do(tmp_path):
    bad = tmp_path / "q.mp3"
    bad.write_bytes(b"ID3\x04not a wav")
    with pytest.raises(ValueError, match=r"--mic-file .*q\.mp3.*PCM WAV.*ffmpeg"):
        read_mic_wav(bad)
    with pytest.raises(ValueError, match="no audio"):
        read_mic_wav(write(tmp_path / "empty.wav", b"", 16000, 2, 1))


def test_a_missing_mic_file_is_not_told_to_convert(tmp_path):
    with pytest.raises(ValueError, match=r"--mic-file .*none\.wav: No such file; check the path") as info:
        read_mic_wav(tmp_path / "none.wav")
    assert "ffmpeg" not in str(info.value)


def extensible_wav(frames: bytes, rate: int, bits: int, channels: int, guid_tag: int = 1) -> bytes:
    """A WAVE_FORMAT_EXTENSIBLE file, as sox writes 24-bit audio (a 40-byte fmt chunk, a fact chunk)."""
    import struct

    align = bits // 8 * channels
    guid = struct.pack("<H", guid_tag) + bytes.fromhex("000000001000800000aa00389b71")
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * align, align, bits, 22, bits, 4) + guid
    fact = b"fact" + struct.pack("<II", 4, len(frames) // align)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + fact + b"data" + struct.pack("<I", len(frames))
    return b"RIFF" + struct.pack("<I", len(body) + len(frames)) + body + frames


def test_a_24_bit_wav_with_the_extensible_header_is_read(tmp_path):
    t = np.arange(16000) / 16000
    tone = np.round(0.5 * np.sin(2 * np.pi * 440 * t) * (2**23 - 1)).astype("<i4")
    frames = np.frombuffer(tone.tobytes(), np.uint8).reshape(-1, 4)[:, :3].tobytes()  # 24-bit little-endian
    path = tmp_path / "sox.wav"
    path.write_bytes(extensible_wav(frames, 16000, 24, 1))
    samples = np.frombuffer(read_mic_wav(path), "<i2")
    assert len(samples) == 16000 and 0.45 * 32767 < np.abs(samples).max() < 0.55 * 32767
    float_file = tmp_path / "float.wav"
    float_file.write_bytes(extensible_wav(bytes(8 * 100), 16000, 32, 2, guid_tag=3))  # IEEE float: not PCM
    with pytest.raises(ValueError, match=r"not integer PCM .*ffmpeg"):
        read_mic_wav(float_file)
    cut = parse_wav(extensible_wav(frames, 16000, 24, 1)[:-10])  # a recording cut short: the whole frames
    assert len(cut.data) == len(frames) - 12 and (cut.rate, cut.width, cut.channels) == (16000, 3, 1)


def test_a_speaker_file_that_cannot_be_written_is_refused_at_start(tmp_path):
    check_speaker_file(tmp_path / "out.wav")
    with pytest.raises(ValueError, match=r"the folder .*missing does not exist; create it \(mkdir -p"):
        check_speaker_file(tmp_path / "missing" / "out.wav")
    with pytest.raises(ValueError, match="is a folder"):
        check_speaker_file(tmp_path)


async def test_a_speaker_file_write_failure_is_reported_once_and_the_turn_still_ends(tmp_path):
    # The folder vanished after the start check: each turn's end still comes, with one report.
    ended: dict[int, asyncio.Event] = {1: asyncio.Event(), 2: asyncio.Event()}
    errors: list[Exception] = []
    speaker = FileSpeaker(lambda g: None, lambda g: ended[g].set(), tmp_path / "gone" / "out.wav", errors.append)
    chunk = Audio(16000, 2, 1, bytes(2 * 16))
    for turn in (1, 2):
        for _ in range(5):
            await speaker.play(turn, chunk)
        speaker.finish(turn)
        await asyncio.wait_for(ended[turn].wait(), 10)
    speaker.close()
    assert len(errors) == 2  # once per turn, not once per chunk
    assert "--speaker-file" in str(errors[0]) and "not saved" in str(errors[0])


async def test_speaker_file_takes_any_number_of_chunks_before_finish(tmp_path):
    """More chunks than the queue holds, then finish(): no QueueFull, every sample written."""
    ended: list[int] = []
    speaker = FileSpeaker(lambda g: None, ended.append, tmp_path / "out.wav")
    chunk = Audio(48000, 2, 1, bytes(2 * 48))  # 1 ms each: the writer paces in real time
    for _ in range(3 * QUEUE_CHUNKS):
        await speaker.play(1, chunk)
    speaker.finish(1)
    for _ in range(200):
        if ended:
            break
        await asyncio.sleep(0.01)
    speaker.close()
    assert ended == [1]
    with wave.open(str(tmp_path / "out.wav")) as wav:
        assert wav.getnframes() == 3 * QUEUE_CHUNKS * 48
