"""Which decoder the transcriber uses: a pure choice, unit-tested without torch.

``static``: transformers' StaticCache, one pre-allocated cache of a fixed length
reused by every request, so the decode step always has the same shapes; on CUDA
generate compiles that step (torch.compile, CUDA graphs) once, at start-up.
``dynamic``: the growing DynamicCache, eager (today's path, and the fallback).
Both give the same token ids for the same inputs (tests/engines/test_asr_decode.py).
"""
from __future__ import annotations

from dataclasses import dataclass

CHOICES = ("auto", "static", "dynamic")


@dataclass(frozen=True)
class Backend:
    static: bool    # StaticCache instead of DynamicCache
    compiled: bool  # generate compiles the decode step
    reason: str     # why, for the log

    @property
    def name(self) -> str:
        return "static cache, compiled decode step" if self.compiled else (
            "static cache" if self.static else "dynamic cache")


def choose_backend(requested: str, device_type: str, compiler_problem: str | None) -> Backend:
    """The decoder for ``--decode requested`` on ``device_type`` (``compiler_problem``: why torch.compile
    can't run here, or None)."""
    if requested not in CHOICES:
        raise ValueError(f"--decode {requested!r}: choose one of {', '.join(CHOICES)}")
    if requested == "dynamic":
        return Backend(False, False, "--decode dynamic")
    if device_type != "cuda":
        if requested == "static":
            return Backend(True, False, f"--decode static on {device_type}: generate compiles only on CUDA")
        return Backend(False, False, f"the device is {device_type}; the compiled static-cache decoder needs CUDA")
    if compiler_problem:
        return Backend(requested == "static", False, f"torch.compile is unavailable: {compiler_problem}")
    return Backend(True, True, "CUDA")


def fallback(error: BaseException) -> Backend:
    """The decoder to use after the compiled one failed to compile or run its warm-up."""
    reason = f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
    return Backend(False, False, f"compiling the decode step failed ({reason})")
