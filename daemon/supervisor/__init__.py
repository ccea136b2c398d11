"""Keeps the engine processes alive: spawn, probe, restart with backoff, reconnect remote engines."""
