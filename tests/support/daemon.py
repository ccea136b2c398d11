"""Run the real daemon as a subprocess (headless, control socket) and watch its event stream."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path
from typing import Callable

import numpy as np
import tomli_w

from daemon.control import NotRunning, request, stream_events


def write_wav(path: Path, pcm: np.ndarray, rate: int) -> Path:
    """Mono 16-bit WAV of ``pcm`` (int16 values): the daemon's --mic-file."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.astype("<i2").tobytes())
    return path


def write_tone_wav(path: Path, seconds: float = 1.0, rate: int = 16000, freq: float = 300.0) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    return write_wav(path, 0.3 * 32767 * np.sin(2 * np.pi * freq * t), rate)


def write_voiced_wav(path: Path, seconds: float = 2.0, rate: int = 16000) -> Path:
    """Vowel-like syllables (a 110-150 Hz pulse train through moving formants, 4 a second) that the
    Silero VAD calls speech, so the ASR engine transcribes them; numpy only, no espeak-ng needed."""
    t = np.arange(int(seconds * rate)) / rate
    pulses = np.diff(np.floor(np.cumsum(130 + 20 * np.sin(2 * np.pi * 0.7 * t)) / rate), prepend=0)
    vowels = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (660, 1720, 2410)]
    k = np.arange(int(0.03 * rate)) / rate  # a formant: a decaying sinusoid excited by each pulse
    out, syllable = np.zeros(t.size), rate // 4
    for n, start in enumerate(range(0, t.size, syllable)):
        kernel = sum(np.exp(-np.pi * bw * k) * np.sin(2 * np.pi * f * k)
                     for f, bw in zip(vowels[n % len(vowels)], (80, 100, 120)))
        part = np.convolve(pulses[start:start + syllable], kernel)[:syllable]
        out[start:start + part.size] = part * np.sin(np.pi * np.arange(part.size) / syllable) ** 0.5
    return write_wav(path, 0.5 * 32767 * out / np.abs(out).max(), rate)


def fake_engine_command(kind: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "engines.fake", kind, "--uri", "{uri}", *extra]


class Daemon:
    def __init__(self, tmp: Path, settings: dict, *args: str, headless: bool = True,
                 env: dict[str, str] | None = None) -> None:
        self.headless = headless
        self.tmp = tmp
        self.config = tmp / "config.toml"
        self.config.write_text(tomli_w.dumps(settings))
        self.env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp / "run"), "XDG_STATE_HOME": str(tmp / "state"),
                    "XDG_CONFIG_HOME": str(tmp / "cfg"), "XDG_DATA_HOME": str(tmp / "data"),
                    "XDG_CACHE_HOME": str(tmp / "cache"), "PYTHONUNBUFFERED": "1", **(env or {})}
        (tmp / "run").mkdir(mode=0o700, exist_ok=True)
        self.runtime = tmp / "run" / "sisyphus"  # where the control endpoint file is
        self.socket = self.runtime / "daemon.sock"  # the control socket, on the default (unix) channel
        self.args = args
        self.events: list[dict] = []
        self._lock = threading.Condition()
        self.proc: subprocess.Popen | None = None
        self.log = tmp / "daemon.log"
        # what the user typed, before --headless and the args (a test may put options after the verb)
        self.command = [sys.executable, "-m", "daemon.cli", "--config", str(self.config), "run"]

    def start(self, ready: tuple[str, ...] = ("asr", "tts"), timeout: float = 30) -> "Daemon":
        with open(self.log, "wb") as log:
            mode = ["--headless"] if self.headless else []
            self.proc = subprocess.Popen([*self.command, *mode, *self.args], env=self.env, stdout=log, stderr=log)
        self.wait(lambda: self._connected(), 20, "control socket")
        threading.Thread(target=self._collect, daemon=True).start()
        for name in ready:
            self.wait(lambda n=name: self.status()["engines"][n]["state"] == "ready", timeout, f"{name} ready")
        return self

    def _connected(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log.read_text()}")
        try:
            self.status()
            return True
        except (NotRunning, OSError, ValueError):
            return False

    def _collect(self) -> None:
        try:
            for event in stream_events(self.runtime):
                event["received"] = time.monotonic()  # for latency figures measured from outside
                with self._lock:
                    self.events.append(event)
                    self._lock.notify_all()
        except OSError:
            pass

    def ctl(self, cmd: str, **kw) -> dict:
        reply = request(self.runtime, {"cmd": cmd, **kw})
        assert reply["ok"], reply
        return reply

    def status(self) -> dict:
        return request(self.runtime, {"cmd": "status"}, timeout=5)

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; log:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.05)

    def wait_event(self, match: Callable[[dict], bool], timeout: float = 20, start: int = 0) -> int:
        """Index of the first event at or after ``start`` matching; waits for it."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for i in range(start, len(self.events)):
                    if match(self.events[i]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching event; got {self.kinds()}\n{self.log.read_text()[-3000:]}")
                self._lock.wait(left)

    def wait_state(self, state: str, start: int = 0, timeout: float = 20) -> int:
        return self.wait_event(lambda e: e["kind"] == "state" and e["state"] == state, timeout, start)

    def turn_end(self, start: int, timeout: float = 20) -> int:
        """Index of the timings event of the turn that started listening at or after ``start``."""
        i = self.wait_state("listening", start, timeout)
        turn = self.events[i]["turn"]
        return self.wait_event(lambda e: e["kind"] == "timings" and e["turn"] == turn, timeout, i)

    def kinds(self, start: int = 0) -> list[str]:
        with self._lock:
            return [e["kind"] + (":" + e["state"] if e["kind"] == "state" else "") for e in self.events[start:]]

    def turn(self, hold_s: float = 0.6) -> int:
        start = len(self.events)
        self.ctl("ptt", action="press")
        time.sleep(hold_s)
        self.ctl("ptt", action="release")
        return start

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            try:
                self.ctl("quit")
            except (NotRunning, OSError, AssertionError):
                self.proc.terminate()
            try:
                return self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return self.proc.returncode if self.proc else 0

    def __enter__(self) -> "Daemon":
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def events_json(events: list[dict]) -> str:
    return json.dumps(events, indent=1)
