"""``python -m engines.asr --uri URI --model PATH_OR_REPO_ID [--device] [--dtype]``.

``load`` runs after the runner has taken stdout away from libraries; it resolves the
model (a missing one ends the process with exit 78 and one fatal line), imports
torch and transformers, loads, compiles and warms up the decoder and only then
returns, so the engine answers ``describe`` only when a request can be served at
full speed.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from engines.common import runner
from engines.protocol.errors import CUDA_OOM, EngineError
from engines.common.handler import Engine
from engines.common.models import model_name, model_version

from .decode import CHOICES
from .engine import DEFAULT_MAX_SECONDS, AsrEngine
from .source import DEFAULT_MODEL, resolve

_LOG = logging.getLogger("engines.asr")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"model directory or Hugging Face repo id (default {DEFAULT_MODEL})")
    parser.add_argument("--revision", default=None, help="repo revision to download (default: main)")
    parser.add_argument("--device", default="auto", help="auto (a CUDA GPU when there is one), cuda, cuda:N or cpu")
    parser.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"],
                        help="auto: bfloat16 on CUDA, float32 on CPU")
    parser.add_argument("--vad-model", default=None, help="path of silero_vad_v6.onnx (default: the venv's copy)")
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS,
                        help="longest audio accepted in one request")
    parser.add_argument("--no-loop-guard", action="store_true",
                        help="decode up to the token budget even when the output repeats itself")
    parser.add_argument("--decode", default="auto", choices=CHOICES,
                        help="auto: a static cache with a compiled decode step on CUDA, the dynamic cache elsewhere")
    parser.add_argument("--no-live", action="store_true",
                        help="transcribe after audio-stop only, not while the user is still speaking")


def load(args: argparse.Namespace) -> Engine:
    started = time.perf_counter()
    path = resolve(args.model, args.revision)
    from .vad import SileroVad, find_model

    vad = SileroVad(find_model(args.vad_model))
    import torch
    import transformers

    from .transcriber import Transcriber, pick_device, pick_dtype

    device = pick_device(args.device)
    dtype = pick_dtype(args.dtype, device)
    try:
        transcriber = Transcriber.load(path, device, dtype, args.decode)
        loaded = time.perf_counter()
        transcriber.warm_up()
    except torch.OutOfMemoryError:
        raise EngineError(f"not enough free memory on {device} to load and warm up {args.model} in {dtype} "
                          "(GLM-ASR-Nano needs about 5 GB in bfloat16); close other GPU programs, or use "
                          "--device cpu", CUDA_OOM) from None
    transcriber.loop_guard = not args.no_loop_guard
    _LOG.info("loaded %s on %s (%s) in %.1f s, warmed up in %.1f s; %s", path, device, str(dtype).split(".")[-1],
              loaded - started, time.perf_counter() - loaded, transcriber.memory_report())
    if os.environ.get("SISYPHUS_ASR_FORCED_RATE"):  # benchmarks with random weights: no EOS, a fixed length
        transcriber.forced_rate = float(os.environ["SISYPHUS_ASR_FORCED_RATE"])
        _LOG.warning("benchmark knob: every window decodes %.1f tokens per second of audio", transcriber.forced_rate)
    if os.environ.get("SISYPHUS_ASR_FAULT") == "oom-once":
        _LOG.warning("fault injection: the next model call raises CUDA out of memory")
        transcriber.inject_oom = True
    return AsrEngine(transcriber, vad, model_name(args.model), model_version(path), args.max_seconds,
                     live=not args.no_live, description=f"GLM-ASR-Nano-2512 (transformers {transformers.__version__})")


def http_routes(_args: argparse.Namespace):
    from .http import routes  # aiohttp: only with --http

    return routes


def main(argv: list[str] | None = None) -> int:
    return runner.main(argv, description="GLM-ASR speech recognition engine (Wyoming).",
                       load=load, add_arguments=add_arguments, http_routes=http_routes)


if __name__ == "__main__":
    sys.exit(main())
