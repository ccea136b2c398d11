"""Deterministic fake engines that speak the real Wyoming protocol, with fault knobs for tests.

``python -m engines.fake asr|tts --uri ... [--crash-after N] [--hang-describe]
[--slow-start S] [--die-mid-stream] [--die-in-describe N] [--die-on-stop] [--once-file PATH]
[--error-code CODE] [--missing-model PATH]``
"""
