"""What both sides of the engine boundary know, written once: framing, URIs and transports (the
unix-socket serving helper too), error and exit codes, x-voice-* events, chunking, PCM decoding,
WAV parsing, the reference-clip rule, the one Windows call point (kernel32), the version.

Both sides import it: the daemon (light, no torch) and every engine venv. Keep it to the
standard library and wyoming; numpy only in the audio modules (``pcm``, ``clips``).
"""
