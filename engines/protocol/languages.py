"""The languages Qwen3-TTS speaks, as both sides name them: ISO 639-1 codes (Wyoming's convention,
``en`` or ``en_US``) and the English names the model and vLLM-Omni's ``language`` field want.
"""
from __future__ import annotations

NAMES = {"zh": "Chinese", "en": "English", "de": "German", "it": "Italian", "pt": "Portuguese",
         "es": "Spanish", "ja": "Japanese", "ko": "Korean", "fr": "French", "ru": "Russian"}
CODES = {name.lower(): code for code, name in NAMES.items()}


def english_name(language: str) -> str:
    """``en``, ``en_US``, ``en-GB``, ``english`` -> ``English``; a language not in the table is
    returned as given (the server decides what it knows)."""
    lowered = language.strip().lower()
    code = lowered.replace("-", "_").split("_")[0]
    if code in NAMES:
        return NAMES[code]
    return NAMES[CODES[lowered]] if lowered in CODES else language.strip()
