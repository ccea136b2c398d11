"""--mic-file / --speaker-file without devices: any PCM WAV in, the whole reply out."""
from __future__ import annotations

import asyncio
import wave

import numpy as np
import pytest

from daemon.audio.files import QUEUE_CHUNKS, FileSpeaker, read_mic_wav
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
