"""Logging: a rotated file in the user log dir plus stderr; secrets are redacted."""
from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Redact(logging.Filter):
    """Replace secrets (the LLM key) wherever they would appear in a log line."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def setup(log_dir: Path, level: str = "info", debug: bool = False, secrets: list[str] | None = None) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "sisyphus.log"
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.DEBUG if debug else getattr(logging, level.upper(), logging.INFO))
    redact = Redact(secrets or [])
    file_handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    for handler in (file_handler, logging.StreamHandler()):
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(redact)
        root.addHandler(handler)
    return path
