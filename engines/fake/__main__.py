"""``python -m engines.fake asr|tts --uri URI [fault knobs]``."""
from __future__ import annotations

import argparse
import sys

from engines.common import runner
from engines.common.handler import Engine

from .faults import add_fault_arguments, start_up


def load(args: argparse.Namespace) -> Engine:
    faults = start_up(args)
    if args.kind == "asr":
        from .asr import FakeAsrEngine

        return FakeAsrEngine(faults, transcript=args.transcript)
    from .tts import FakeTtsEngine

    return FakeTtsEngine(faults, chunk_delay=args.chunk_delay)


def http_routes(args: argparse.Namespace):
    """``--http``: the real engines' OpenAI-audio routes, over the fake models."""
    if args.kind == "asr":
        from engines.asr.http import routes
    else:
        from engines.tts.http import routes
    return routes


def main(argv: list[str] | None = None) -> int:
    return runner.main(argv, description="Deterministic fake Wyoming engines for tests.",
                       load=load, add_arguments=add_fault_arguments, http_routes=http_routes)


if __name__ == "__main__":
    sys.exit(main())
