"""Where the speech is: the no-speech gate and the cutting of long audio into model windows.

Pure functions over per-window speech probabilities (Silero VAD gives one per
32 ms), so they are unit-tested without a model. GLM-ASR's encoder sees at most
30 s at once; longer audio is cut into windows of at most 30 s, each cut placed at
the least speech-like moment of the last seconds before the limit, so a word is
not split in half when a pause is near.
"""
from __future__ import annotations

import numpy as np

RATE = 16000
VAD_WINDOW = 512  # samples per Silero probability at 16 kHz (32 ms)
MAX_WINDOW_S = 30.0
CUT_SEARCH_S = 8.0


def speech_seconds(probs: np.ndarray, threshold: float = 0.5) -> float:
    """Total duration of the windows the VAD calls speech."""
    return float(np.count_nonzero(probs >= threshold)) * VAD_WINDOW / RATE


def has_speech(probs: np.ndarray, threshold: float = 0.5, min_speech_s: float = 0.2) -> bool:
    """True when at least ``min_speech_s`` of the audio is speech.

    A single loud click gives one or two speech windows; a spoken word gives ten
    or more, so 0.2 s separates them without losing one-word commands.
    """
    return speech_seconds(probs, threshold) >= min_speech_s


def split_windows(
    n_samples: int,
    probs: np.ndarray,
    max_s: float = MAX_WINDOW_S,
    search_s: float = CUT_SEARCH_S,
) -> list[tuple[int, int]]:
    """Sample ranges of at most ``max_s`` covering ``[0, n_samples)``, cut at pauses.

    ``probs[i]`` scores samples ``[i*512, (i+1)*512)``; within the last ``search_s``
    before each limit the cut goes to the lowest score (the latest one on ties,
    which keeps windows long and their number small).
    """
    max_len = int(max_s * RATE)
    search = min(int(search_s * RATE), max_len - VAD_WINDOW)
    windows: list[tuple[int, int]] = []
    start = 0
    while n_samples - start > max_len:
        lo = (start + max_len - search + VAD_WINDOW - 1) // VAD_WINDOW
        hi = (start + max_len) // VAD_WINDOW  # a cut at hi*512 keeps the window <= max_len
        scores = probs[lo:hi + 1] if probs.size else np.zeros(0)
        if scores.size:
            best = lo + int(scores.size - 1 - np.argmin(scores[::-1]))
            cut = best * VAD_WINDOW
        else:
            cut = start + max_len
        cut = max(cut, start + VAD_WINDOW)
        windows.append((start, cut))
        start = cut
    windows.append((start, n_samples))
    return windows


# Transcribing while the user speaks: a segment closes at the first pause of PAUSE_S
# after at least MIN_SEGMENT_S, or, without a pause, at the quietest moment of the last
# LIVE_SEARCH_S before LIVE_MAX_S. Decided from the audio alone, so the same audio gives
# the same segments (and text) however fast it arrives.
PAUSE_S = 0.35
MIN_SEGMENT_S = 2.0
LIVE_MAX_S = 15.0
LIVE_SEARCH_S = 5.0


def _windows(seconds: float) -> int:
    return int(round(seconds * RATE / VAD_WINDOW))


def live_cut(probs: np.ndarray, start: int, threshold: float = 0.5) -> int | None:
    """The VAD window at which the open segment ``[start, len(probs))`` closes, or None (not yet).

    Cuts in the middle of the pause, so each side keeps a little silence. Any amount of audio
    may have arrived, none included: a client's first chunk can be shorter than one VAD window."""
    pause, shortest, longest = _windows(PAUSE_S), _windows(MIN_SEGMENT_S), _windows(LIVE_MAX_S)
    quiet = probs[start:start + longest] < threshold
    if quiet.size < shortest:
        return None  # too little audio for a segment yet (np.convolve refuses an empty array)
    runs = np.convolve(quiet.astype(np.int32), np.ones(pause, dtype=np.int32), mode="valid")  # quiet windows
    for end in np.flatnonzero(runs == pause) + pause:  # a pause ends at window start+end
        cut = start + end - pause // 2
        if cut - start >= shortest and has_speech(probs[start:start + end - pause], threshold):
            return int(cut)
    if probs.size - start < longest:
        return None
    search = _windows(LIVE_SEARCH_S)
    scores = probs[start + longest - search:start + longest + 1]
    return start + longest - search + int(scores.size - 1 - np.argmin(scores[::-1]))
