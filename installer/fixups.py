"""Post-install fix-ups per engine venv, named after the engine (``installer.venvs.ENGINES``).

Each is ``def <engine>(python: Path, progress) -> None`` and must be idempotent.
"""
from __future__ import annotations
