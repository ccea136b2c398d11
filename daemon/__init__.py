"""sisyphus: the resident voice-assistant daemon (light: never imports torch)."""
from engines.protocol.version import VERSION as __version__  # noqa: F401  (one home, shared with the engines)
