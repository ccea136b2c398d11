"""How to reach one OpenAI-compatible speech server: its base URL, model, key and patience."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlparse

SCHEMES = ("http", "https")


def is_http(uri: str) -> bool:
    return urlparse(uri).scheme in SCHEMES


def key_variable(name: str) -> str:
    """The environment variable that holds the key of the ``name`` engine (``SISYPHUS_TTS_API_KEY``)."""
    return f"SISYPHUS_{name.upper()}_API_KEY"


def check_http_uri(uri: str) -> str:
    """'' when ``uri`` is a usable base URL of an OpenAI-compatible server, else the problem."""
    parsed = urlparse(uri)
    try:
        parsed.port
    except ValueError:
        return "the port must be a number from 1 to 65535, e.g. http://gpu-box:8091/v1"
    if not parsed.hostname:
        return "an http(s) URI needs a host, e.g. http://gpu-box:8091/v1"
    if parsed.query or parsed.fragment:
        return "the base URL takes no ?query or #fragment, e.g. http://gpu-box:8091/v1"
    return ""


@dataclass(frozen=True)
class HttpOptions:
    """``model``: sent as the request's ``model`` ('' leaves it out: the server's own);
    ``api_key``: sent as a bearer token ('' sends none); ``timeout_s``: how long a request may
    wait for the server's answer, or for the next bytes of it, before it fails."""

    model: str = ""
    api_key: str = field(default="", repr=False)  # never in a log line
    timeout_s: float = 15.0
    connect_timeout_s: float = 5.0

    @classmethod
    def from_settings(cls, name: str, model: str, api_key: str, timeout_s: float) -> "HttpOptions":
        """The key from ``SISYPHUS_<NAME>_API_KEY`` beats the settings file's ``api_key``."""
        return cls(model, os.environ.get(key_variable(name), "") or api_key, timeout_s)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
