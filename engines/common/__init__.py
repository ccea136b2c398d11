"""The runtime every engine stands on: bounded wire reader, per-connection handler, server runner."""
