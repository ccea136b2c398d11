"""sisyphus: the resident voice-assistant daemon (light: never imports torch)."""
__version__ = "0.1.0"
