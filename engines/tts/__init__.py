"""Qwen3-TTS speech-synthesis engine: streams audio while the model generates it."""
