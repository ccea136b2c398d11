"""Requests to the speech engines over Wyoming, or the OpenAI audio API for an http(s) URI (``openai_audio``):
transcribe, synthesize, describe, manage voices."""
