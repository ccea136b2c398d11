"""The embedded LLM engine: llama.cpp's OpenAI-compatible HTTP server, supervised like the speech engines.

``python -m engines.llm --uri URI --model FILE.gguf --http-port N`` loads the GGUF model with
xllamacpp (llama.cpp's own C++ server, in process), serves chat completions on
``http://127.0.0.1:N/v1`` (loopback only), and only then answers Wyoming ``describe`` on URI, so
the supervisor's readiness, restarts and status work as for every engine. On the Wyoming side it
is also a ``handle`` service (transcript in, ``handled`` text out), usable by Home Assistant.
"""
