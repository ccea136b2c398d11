"""A heartbeat for long quiet steps (pip downloading a wheel says nothing with -q): every
``every_s`` seconds one line with the time so far, so a setup is never silent for long."""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Iterator


@contextlib.contextmanager
def ticking(say: Callable[[str], None], what: str, every_s: float = 15.0,
            clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    started, done = clock(), threading.Event()

    def beat() -> None:
        while not done.wait(every_s):
            say(f"    ... {what}: still working ({clock() - started:.0f} s)")

    thread = threading.Thread(target=beat, name="setup-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
