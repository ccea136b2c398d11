"""The runtime every engine stands on: the engine and per-connection handler, the server and the runner,
the OpenAI audio API beside Wyoming (http, bridge), the parent watch (lifeline), and finding a model
(local directory or Hugging Face repo id)."""
