"""Any other OS: plain terminate/kill of the child itself; no tie beyond ``--parent-pid``."""
from __future__ import annotations

import contextlib

from .base import Tie


class DummyTie(Tie):
    def terminate(self) -> None:
        if self.child is not None:
            with contextlib.suppress(ProcessLookupError):
                self.child.terminate()

    def kill(self) -> None:
        if self.child is not None:
            with contextlib.suppress(ProcessLookupError):
                self.child.kill()
