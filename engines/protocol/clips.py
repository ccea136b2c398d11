"""What makes a usable reference clip for a cloned voice: one rule, checked on both sides.

The daemon checks a recording before it transcribes and sends it (so the user hears at
once what to redo); the TTS engine checks every ``x-voice-add`` and file it is given,
whoever sent it. A bad reference makes a bad voice forever, so both refuse the same
clips: shorter than 3 s or longer than 30 s, almost silent (RMS below -45 dBFS: a
microphone that is muted, unplugged or far away), or clipped (more than 0.1 % of the
samples at full scale), and anything that is not finite.
"""
from __future__ import annotations

import numpy as np

MIN_SECONDS = 3.0
MAX_SECONDS = 30.0
SILENT_RMS_DBFS = -45.0
MAX_CLIPPED = 0.001  # the share of samples at full scale a clip may have
FULL_SCALE = 0.999


def problem(audio: np.ndarray, rate: int) -> str:
    """'' when mono float ``audio`` (-1..1) at ``rate`` Hz is a usable reference, else what is wrong and what to do."""
    seconds = len(audio) / rate
    if seconds < MIN_SECONDS:
        return (f"the reference audio is {seconds:.1f} s long; it needs at least {MIN_SECONDS:.0f} s "
                "of one person speaking")
    if seconds > MAX_SECONDS:
        return f"the reference audio is {seconds:.1f} s long; keep it under {MAX_SECONDS:.0f} s"
    audio = np.asarray(audio, dtype=np.float64)
    if not np.all(np.isfinite(audio)):
        return "the reference audio has samples that are not numbers (NaN or infinite); record it again"
    rms_dbfs = 20 * np.log10(max(float(np.sqrt(np.mean(audio**2))), 1e-9))
    if rms_dbfs < SILENT_RMS_DBFS:
        return (f"the reference audio is almost silent ({rms_dbfs:.0f} dBFS); check the microphone "
                "and speak closer to it")
    if float(np.mean(np.abs(audio) >= FULL_SCALE)) > MAX_CLIPPED:
        return "the reference audio is clipped (too loud); lower the microphone gain or speak further from it"
    return ""
