"""The runtime every engine stands on: bounded wire reader, per-connection handler, server runner,
and finding a model (local directory or Hugging Face repo id)."""
