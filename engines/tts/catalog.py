"""Names the engine speaks in: preset speakers' languages, Wyoming language codes, voice choice.

Kept free of torch so the protocol handler can be tested without the model stack.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from .store import Voice

_LOG = logging.getLogger(__name__)
ISO_LANGUAGES = {"zh": "chinese", "en": "english", "de": "german", "it": "italian", "pt": "portuguese",
                 "es": "spanish", "ja": "japanese", "ko": "korean", "fr": "french", "ru": "russian"}
NATIVE = {"vivian": "zh", "serena": "zh", "uncle_fu": "zh", "dylan": "zh", "eric": "zh",
          "ryan": "en", "aiden": "en", "ono_anna": "ja", "sohee": "ko"}


@dataclass(frozen=True)
class Choice:
    """What a request speaks with: a preset speaker or a cloned voice."""

    speaker: str | None = None
    voice: Voice | None = None


def language_name(language: str | None, supported: set[str]) -> str:
    """Wyoming languages are codes ("en", "en_US"); the model wants names ("english")."""
    if not language:
        return "auto"
    lowered = language.lower()
    name = ISO_LANGUAGES.get(lowered.replace("-", "_").split("_")[0], lowered)
    if name not in supported:
        _LOG.warning("language %r is not one the model knows; letting it detect the language", language)
        return "auto"
    return name
