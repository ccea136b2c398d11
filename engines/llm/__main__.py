"""``python -m engines.llm --uri URI --model FILE.gguf --http-port N [--gpu-layers N] [--context N]``."""
from __future__ import annotations

import argparse
import sys

from engines.common import runner
from engines.common.handler import Engine


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a GGUF model file")
    parser.add_argument("--model-name", default="", help="the name shown in describe (default: the file's name)")
    parser.add_argument("--http-port", type=int, required=True, help="loopback port of the OpenAI-compatible server")
    parser.add_argument("--gpu-layers", type=int, default=-1,
                        help="layers offloaded to the GPU where llama.cpp was built with CUDA (-1: all, 0: none)")
    parser.add_argument("--context", type=int, default=4096, help="context window in tokens")
    parser.add_argument("--temperature", type=float, default=0.3,
                        help="sampling temperature when a request names none ([llm] extra = {temperature = ...})")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: llama.cpp's choice)")


def load(args: argparse.Namespace) -> Engine:
    from .engine import LlmEngine, Options

    return LlmEngine(Options(model=args.model, name=args.model_name, port=args.http_port,
                             gpu_layers=args.gpu_layers, context=args.context, threads=args.threads,
                             temperature=args.temperature, debug=args.debug))


def main(argv: list[str] | None = None) -> int:
    return runner.main(argv, description="The embedded LLM engine (llama.cpp server).", load=load,
                       add_arguments=add_arguments)


if __name__ == "__main__":
    sys.exit(main())
