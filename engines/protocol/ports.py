"""The TCP ports engines listen on when a TCP URI names none of its own choosing.

Wyoming's customary ports (wyoming-faster-whisper 10300, wyoming-piper 10200), so Home
Assistant's defaults and the docker images line up (installer/docker/ writes them too).
"""
from __future__ import annotations

ENGINE_PORTS = {"asr": 10300, "tts": 10200}
