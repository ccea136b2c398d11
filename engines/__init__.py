"""The engine side of the house: one process and one venv per engine; they never import the daemon.

protocol/ is what both sides know, once (the daemon imports it too): framing, URIs and transports, error
and exit codes, x-voice-* events, chunking, PCM decoding, WAV parsing, the reference-clip rule, the one
Windows call point (kernel32), the version. common/ is the runtime every engine stands on: the Wyoming
server and handler, the OpenAI audio API beside it, the parent watch, finding a model. asr/ and tts/ are
our GLM-ASR and Qwen3-TTS servers (Wyoming and the OpenAI audio API), llm/ the embedded LLM (llama.cpp's
server, supervised like them), fake/ deterministic fakes for tests, cpu/ the requirements of the upstream
servers the cpu profile runs.
"""
