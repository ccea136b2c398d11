"""The speech-recognition engine: GLM-ASR-Nano behind a Wyoming server.

``python -m engines.asr --uri unix://... --model PATH_OR_REPO_ID``. Heavy imports
(torch, transformers, onnxruntime) happen inside ``load()``, after the runner has
protected stdout, never at import time of this package.
"""
