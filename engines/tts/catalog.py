"""Names the engine speaks in: preset speakers' languages, Wyoming language codes, voice choice.

Kept free of torch so the protocol handler can be tested without the model stack.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from engines.protocol.languages import english_name

from .store import Voice

_LOG = logging.getLogger(__name__)
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
    name = english_name(language).lower()
    if name not in supported:
        _LOG.warning("language %r is not one the model knows; letting it detect the language", language)
        return "auto"
    return name
