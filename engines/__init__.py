"""The engine side of the house: one process and one venv per engine; they never import the daemon.

protocol/ is what both sides know, once (the daemon imports it too): framing, URIs and transports,
error and exit codes, x-voice-* events, chunking, PCM decoding, the reference-clip rule, the version.
common/ is the runtime every engine stands on; asr/ and tts/ are our GLM-ASR and Qwen3-TTS Wyoming
servers, fake/ deterministic fakes for tests, cpu/ the requirements of the upstream servers the cpu
profile runs.
"""
