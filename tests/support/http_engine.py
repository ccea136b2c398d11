"""An engine subprocess serving Wyoming and the OpenAI audio API (``--http``), for tests and benchmarks."""
from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from contextlib import contextmanager
from typing import Iterator, Sequence

from engines.protocol.transport import free_port
from tests.support.venvs import REPO


class HttpEngine:
    """``argv`` plus ``--uri tcp://127.0.0.1:P --http 127.0.0.1:Q``; stderr in ``log``."""

    def __init__(self, argv: Sequence[str], log: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.port, self.wyoming_port = free_port(), free_port()
        self.uri = f"tcp://127.0.0.1:{self.wyoming_port}"
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log = log
        with open(log, "wb") as sink:
            self.proc = subprocess.Popen(
                [*argv, "--uri", self.uri, "--http", f"127.0.0.1:{self.port}", *extra],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=sink, cwd=REPO,
                env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "2",
                     **(env or {})})

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float = 60.0) -> re.Match:
        """The first match of ``pattern`` in the engine's log, once written."""
        deadline = time.monotonic() + timeout
        while not (found := re.search(pattern, self.text())):
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not in the engine log:\n{self.text()[-3000:]}")
            time.sleep(0.05)
        return found

    def wait_ready(self, timeout: float = 300.0, headers: dict[str, str] | None = None) -> list[int]:
        """Poll ``GET /v1/models`` until it answers 200; returns the statuses seen before (503 while loading)."""
        seen: list[int] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"engine exited with {self.proc.returncode}:\n{self.text()[-3000:]}")
            request = urllib.request.Request(f"{self.base_url}/models", headers=headers or {})
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    if answer.status == 200:
                        return seen
            except urllib.error.HTTPError as exc:
                seen.append(exc.code)
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"engine not ready after {timeout} s:\n{self.text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@contextmanager
def serving(argv: Sequence[str], log: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[HttpEngine]:
    """An engine that answers ``GET /v1/models``, stopped on the way out (for module fixtures)."""
    engine = HttpEngine(argv, log, *extra, env=env)
    try:
        engine.wait_ready()
        yield engine
    finally:
        engine.stop()
