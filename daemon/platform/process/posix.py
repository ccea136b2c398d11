"""POSIX: each engine leads its own process group, so stopping reaches what it started.

Linux adds ``PR_SET_PDEATHSIG``: the kernel SIGKILLs the child when the daemon dies,
even by SIGKILL. macOS and the BSDs have no such call; the engines' ``--parent-pid``
watch ends them there. Signals go through ``_killpg`` so tests replace that one call.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any

from .base import Tie

PR_SET_PDEATHSIG = 1
SIGKILL = 9  # POSIX fixes the number; signal.SIGKILL does not exist on Windows


def _killpg(pgid: int, sig: int) -> None:
    if sys.platform == "win32":
        raise OSError("process groups are POSIX only")
    os.killpg(pgid, sig)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, SIGKILL)


class PosixTie(Tie):
    def spawn_kwargs(self) -> dict[str, Any]:
        return {"start_new_session": True}  # own session and process group, led by the child

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(SIGKILL)

    def _signal(self, sig: int) -> None:
        if self.child is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            _killpg(self.child.pid, sig)


class LinuxTie(PosixTie):
    dies_with_daemon = True

    def spawn_kwargs(self) -> dict[str, Any]:
        return {**super().spawn_kwargs(), "preexec_fn": _die_with_parent}
