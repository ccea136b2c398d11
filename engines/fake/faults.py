"""Fault knobs shared by the fake engines: the misbehaviour tests need to provoke."""
from __future__ import annotations

import argparse
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from engines.protocol.errors import EngineError, ModelNotFound

_LOG = logging.getLogger(__name__)


@dataclass
class Faults:
    crash_after: int = 0        # exit hard at the start of request N+1 (0 = never)
    hang_describe: bool = False  # never answer describe: the whole process stalls
    slow_start: float = 0.0      # seconds before listening
    die_mid_stream: bool = False  # exit hard in the middle of a request
    error_code: str = ""         # answer every request with this error code
    stray_print: bool = False    # print() to stdout on every request
    error_once: str = ""         # answer the first request with this error code
    die_in_describe: int = 0     # exit hard inside describe N (1 = the readiness check, 2 = the first probe)
    die_on_stop: bool = False    # exit hard (status 5) while shutting down
    once_file: str = ""          # the "die" faults fire only while this file is absent, and create it
    requests: int = 0
    describes: int = 0

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Faults":
        return cls(args.crash_after, args.hang_describe, args.slow_start, args.die_mid_stream, args.error_code,
                   args.stray_print, args.error_once, args.die_in_describe, args.die_on_stop, args.once_file)

    def die(self, why: str, status: int) -> None:
        """Exit at once, as a crash does (no cleanup, connections cut); with ``once_file``, once only:
        the engine started again after the crash runs clean."""
        if self.once_file:
            marker = Path(self.once_file)
            if marker.exists():
                return
            marker.touch()
        _LOG.error("fault: %s", why)
        os._exit(status)

    def on_describe(self) -> None:
        self.describes += 1
        if self.die_in_describe and self.describes == self.die_in_describe:
            self.die(f"dying inside describe {self.describes}", 6)
        if self.hang_describe:
            _LOG.warning("fault: hanging in describe")
            while True:
                time.sleep(3600)

    def on_request(self) -> None:
        """Called when a request starts."""
        self.requests += 1
        if self.stray_print:
            print(f"request {self.requests}", flush=True)
        if self.crash_after and self.requests > self.crash_after:
            _LOG.error("fault: crashing at request %d", self.requests)
            os._exit(3)
        if self.error_code:
            raise EngineError(f"fault: scripted error {self.error_code}", self.error_code)
        if self.error_once and self.requests == 1:
            raise EngineError(f"fault: scripted error {self.error_once} (once)", self.error_once)

    def mid_stream(self) -> None:
        if self.die_mid_stream:
            self.die("dying mid-stream", 4)

    def on_stop(self) -> None:
        """Called while the engine shuts down (it was asked to stop)."""
        if self.die_on_stop:
            self.die("dying while being stopped", 5)


def add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=["asr", "tts"])
    parser.add_argument("--crash-after", type=int, default=0, metavar="N")
    parser.add_argument("--hang-describe", action="store_true")
    parser.add_argument("--slow-start", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--die-mid-stream", action="store_true")
    parser.add_argument("--error-code", default="")
    parser.add_argument("--error-once", default="", help="answer only the first request with this error code")
    parser.add_argument("--missing-model", default="", metavar="PATH",
                        help="fail start-up as a missing model at PATH would")
    parser.add_argument("--transcript", default="", help="fake ASR: the text to answer for speech")
    parser.add_argument("--transcript-file", default="", metavar="PATH",
                        help="fake ASR: answer with the text in PATH, read at each request (empty: no speech)")
    parser.add_argument("--stray-print", action="store_true",
                        help="print to stdout at start-up and per request, as careless libraries do")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="fake TTS: seconds between audio chunks")
    parser.add_argument("--die-in-describe", type=int, default=0, metavar="N",
                        help="exit hard inside describe N (1 = the readiness check, 2 = the first health probe)")
    parser.add_argument("--die-on-stop", action="store_true", help="exit hard (status 5) while shutting down")
    parser.add_argument("--once-file", default="", metavar="PATH",
                        help="the die faults fire only while PATH is absent, and create it: the restart runs clean")


def start_up(args: argparse.Namespace) -> Faults:
    if args.missing_model:
        raise ModelNotFound(
            f"model not found at {args.missing_model}; run `sisyphus models pull` or fix the path in the config"
        )
    if args.slow_start:
        time.sleep(args.slow_start)
    if args.stray_print:
        print("\n********\nWarning: a library banner on stdout\n********\n ", flush=True)
    return Faults.from_args(args)
