"""The OpenAI audio API as a speech-engine protocol, client side.

An engine whose ``uri`` is ``http://`` or ``https://`` is an OpenAI-compatible speech
server (vLLM-Omni, Speaches, Kokoro-FastAPI, OpenAI itself, or our own engines' ``--http``
side): ``POST {uri}/audio/speech`` streams the audio of one text chunk,
``POST {uri}/audio/transcriptions`` turns one utterance into text, and ``GET {uri}/models``
or ``{uri}/audio/voices`` is the health probe. ``daemon.speech.clients`` picks this module
or Wyoming by the URI's scheme, so the assistant never knows which protocol it talks.
"""
from .options import HttpOptions, is_http

__all__ = ["HttpOptions", "is_http"]
