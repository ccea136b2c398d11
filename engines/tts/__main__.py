"""``python -m engines.tts --uri URI [--custom-voice-model M] [--base-model M] [--voices-dir DIR] ...``

Loads the model(s), warms them up, then serves Wyoming TTS. The common runner has
already moved fd 1 away when ``load`` imports qwen-tts, so its import-time stdout
banner lands on stderr, never in a stdio protocol stream.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Sequence

from engines.protocol.errors import BAD_REQUEST, EngineError
from engines.common.handler import CancelToken
from engines.common.runner import main as run_engine

_LOG = logging.getLogger("engines.tts")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .store import default_dir

    parser.add_argument("--custom-voice-model", metavar="PATH_OR_ID",
                        help="Qwen3-TTS CustomVoice model (preset speakers), e.g. Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice")
    parser.add_argument("--base-model", metavar="PATH_OR_ID",
                        help="Qwen3-TTS Base model (cloned voices), e.g. Qwen/Qwen3-TTS-12Hz-1.7B-Base")
    parser.add_argument("--voices-dir", type=Path, default=default_dir(), help="cloned voices (default: %(default)s)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--attn", default="sdpa", choices=["sdpa", "flash_attention_2", "eager"],
                        help="attention kernel; flash_attention_2 falls back to sdpa when flash-attn is absent")
    parser.add_argument("--max-new-tokens", type=int, default=2048,
                        help="hard cap of codec frames per sentence (12.5 per second of audio)")
    parser.add_argument("--backend", default="auto", choices=["auto", "graph", "stock"],
                        help="graph: faster-qwen3-tts CUDA graphs (needs CUDA; falls back to stock, logged); "
                             "stock: qwen_tts' own generation; auto: graph on CUDA (default)")
    parser.add_argument("--graph-cache", type=int, default=0, metavar="POSITIONS",
                        help="static KV-cache length of the graph path (default: one sentence plus its prompt)")
    parser.add_argument("--graph-loop", default="sisyphus", choices=["sisyphus", "library"],
                        help="the graph path's frame loop: ours (no host sync per frame) or faster-qwen3-tts' own")
    parser.add_argument("--no-warmup", action="store_true", help="skip the warm-up generation (tests)")


def load(args: argparse.Namespace):
    """Build the engine; EngineError here becomes the fatal line and exit status 78."""
    if not args.custom_voice_model and not args.base_model:
        raise EngineError("give --custom-voice-model (preset speakers) and/or --base-model (cloned voices)",
                          BAD_REQUEST)
    import torch  # heavy imports only now, after the runner protected stdout

    _quiet_libraries()

    from . import loader
    from .backend import Synthesizer
    from .engine import TtsEngine
    from .store import VoiceStore
    from .text import MAX_SENTENCE_CHARS

    device = loader.pick_device(args.device)
    dtype = loader.pick_dtype(args.dtype, device)
    attn = loader.pick_attention(args.attn, graphs=args.backend != "stock" and device.startswith("cuda"))
    started = time.perf_counter()
    custom = base = slot = None
    if args.custom_voice_model:
        custom = loader.load(args.custom_voice_model, device, dtype, attn)
        loader.check_kind(custom, "custom_voice", "--custom-voice-model")
    if args.base_model:  # beside a CustomVoice model on a GPU: its talker waits in host memory
        share = custom is not None and device.startswith("cuda")
        base = loader.load(args.base_model, "cpu" if share else device, dtype, attn)
        loader.check_kind(base, "base", "--base-model")
        slot = _share_talker(custom, base, device) if share else None
    store = VoiceStore(args.voices_dir)
    synth = Synthesizer(custom, base, store, max_new_tokens=args.max_new_tokens, slot=slot)
    wrappers = [w for w in (custom, base) if w is not None]
    cache = args.graph_cache or loader.graph_cache_len(args.max_new_tokens, MAX_SENTENCE_CHARS)
    path, synth.why_stock = loader.pick_path(args.backend, device, lambda: _graphs(wrappers, device, dtype, cache,
                                                                                    args.graph_loop))
    if path is not None:
        synth.path = path
    if not args.no_warmup:
        warm_up(synth)
    _LOG.info("ready in %.1f s (%s path, %d preset speakers, %d cloned voices)%s", time.perf_counter() - started,
              synth.path.name, len(synth.presets()), len(store.list()), loader.gpu_memory())
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    return TtsEngine(synth, store)


def _share_talker(custom, base, device: str):
    """One talker on the GPU for both models; if they cannot share it, both go to the GPU."""
    from .slot import SlotMismatch, TalkerSlot

    try:
        slot = TalkerSlot(custom, base)
    except SlotMismatch as exc:
        _LOG.warning("both models stay on %s: %s", device, exc)
        base.model.to(device)
        base.model.speech_tokenizer.model.to(device)
        base.model.speech_tokenizer.device = base.device = custom.device
        return None
    _LOG.info("Base model's talker (%.2f GiB) held in host memory, swapped in when a cloned voice speaks",
              slot.bytes() / 2**30)
    return slot


def _graphs(wrappers: list, device: str, dtype, cache: int, loop: str):
    from .fast import GraphPath

    started = time.perf_counter()
    path = GraphPath(wrappers, device, dtype, cache, loop=loop)
    path.capture()
    _LOG.info("CUDA graphs captured in %.1f s (static cache %d positions)", time.perf_counter() - started, cache)
    return path


def _quiet_libraries() -> None:
    """qwen-tts logs config defaults at INFO on every load; transformers warns about
    pad_token_id on every generate() call. Neither tells an operator anything."""
    logging.getLogger("qwen_tts").setLevel(logging.WARNING)
    logging.getLogger("transformers.generation.utils").setLevel(logging.ERROR)


def warm_up(synth) -> None:
    """One short generation per model: kernels, allocator, caches and graphs are ready before ``ready``."""
    started = time.perf_counter()
    choices = []
    voices = synth.store.list()
    if synth.base is not None and voices:
        choices.append(synth.choose(voices[0].name))  # also computes and caches its clone prompt
    if synth.custom is not None:
        choices.append(synth.choose(None))  # last: its weights are the ones resident at rest
    for choice in choices:
        synth.speak(lambda _audio: None, "Hello.", choice, token=CancelToken(), cap=6)
    _LOG.info("warm-up took %.1f s", time.perf_counter() - started)


def http_routes(args: argparse.Namespace):
    """The OpenAI-audio routes; ``GET /v1/models`` also names the checkpoints given here, so a client
    configured with e.g. ``Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice`` (as for vLLM-Omni) finds its model."""
    import functools

    from .http import routes  # aiohttp: only with --http

    given = [args.custom_voice_model, args.base_model]
    return functools.partial(routes, checkpoints=[str(m).rstrip("/\\") for m in given if m])


def main(argv: Sequence[str] | None = None) -> int:
    return run_engine(argv, description="Qwen3-TTS speech synthesis engine (Wyoming)", load=load,
                      add_arguments=add_arguments, http_routes=http_routes)


if __name__ == "__main__":
    raise SystemExit(main())
