"""Deterministic fake engines that speak the real Wyoming protocol, with fault knobs for tests.

``python -m engines.fake asr|tts --uri ... [--crash-after N] [--hang-describe]
[--slow-start S] [--die-mid-stream] [--error-code CODE] [--missing-model PATH]``
"""
