"""Does the CUDA-graph path say what the stock path says? A check with printed figures, not a test.

Run with the TTS engine venv's python (tests/bench/gpu_check.sh runs it on the GPU):

    python tests/bench/tts_parity.py MODEL_DIR [--device cuda] [--frames 40] [--dtype float32]

Both checks run in float32 by default (a bf16 model is loaded as float32): bf16 rounding
is larger than what is checked (greedy frames of random weights part after 2-30 frames,
the codec differs by ~2.4 % of peak), so in bf16 correct code would fail them.
1. Greedy decoding (no sampling), same text and speaker: the stock path (qwen_tts
   generate()) and the graph path (faster-qwen3-tts CUDA graphs) should produce the same
   codec frames: at least 3/4 of them identical from the start (static-cache SDPA kernels
   are not bit-identical to the dynamic-cache ones, so a near tie may part them late).
2. The same codes decoded one-shot and by the stateful ``CodecStream`` in the graph path's
   chunk schedule, on the device: they must agree to rounding (2 % of peak).
Without CUDA, part 1 says the graph path is unavailable and only the stock path runs.
Exit status 1 when a check fails.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engines.tts import loader  # noqa: E402
from engines.tts.codec import CodecStream  # noqa: E402
from engines.tts.fast import GraphPath, StockPath  # noqa: E402
from engines.tts.streaming import GRAPH_SCHEDULE, chunk_frames  # noqa: E402

TEXT = "The quick brown fox jumps over the lazy dog, and then it runs far away."


def frames_of(path, wrapper, cap: int) -> torch.Tensor:
    frames: list[torch.Tensor] = []
    with torch.inference_mode():
        path.generate(wrapper, TEXT, "english", "ryan", None, cap,
                      lambda frame: frames.append(frame.clone()) if frame is not None else None)
    return torch.stack(frames) if frames else torch.zeros(0, 16, dtype=torch.long)


def codec_check(wrapper, codes: torch.Tensor) -> dict:
    decoder = wrapper.model.speech_tokenizer.model.decoder
    device = next(decoder.parameters()).device
    with torch.inference_mode():
        oneshot = decoder(codes.to(device).T.unsqueeze(0).clamp(min=0))[0, 0].float().cpu().numpy()
    stream, parts, at, index = CodecStream(decoder), [], 0, 0
    while at < len(codes):
        n = chunk_frames(index, GRAPH_SCHEDULE)
        parts.append(stream.push(codes[at:at + n]))
        at, index = at + n, index + 1
    streamed = np.concatenate(parts)
    peak = float(np.abs(oneshot).max())
    return {"samples": [len(oneshot), len(streamed)], "max_diff": float(np.abs(oneshot - streamed).max()),
            "peak": peak}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a CustomVoice model dir")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "auto"])
    args = parser.parse_args()
    device = loader.pick_device(args.device)
    dtype = loader.pick_dtype(args.dtype, device)
    wrapper = loader.load(str(args.model), device, dtype, "sdpa")
    stock = frames_of(StockPath(greedy=True), wrapper, args.frames + 1)
    report: dict = {"device": device, "dtype": str(dtype), "stock_frames": len(stock)}
    ok = len(stock) > 0
    if device.startswith("cuda"):
        graph_path = GraphPath([wrapper], device, dtype, loader.graph_cache_len(args.frames + 1, 300), greedy=True)
        graph_path.capture()
        graph = frames_of(graph_path, wrapper, args.frames + 1).to(stock.device)
        common = min(len(stock), len(graph))
        same = (stock[:common] == graph[:common]).all(dim=1).tolist()
        agree = same.index(False) if False in same else common
        report.update(graph_frames=len(graph), frames_identical_from_start=agree,
                      frames_identical=sum(same), compared=common)
        frames_ok = common > 0 and 4 * agree >= 3 * common
        ok = ok and frames_ok
        codes = graph
    else:
        report["graph"] = f"unavailable: no CUDA device (--device {device})"
        codes = stock
    report["codec"] = codec_check(wrapper, codes.cpu())
    codec_ok = report["codec"]["max_diff"] <= 0.02 * max(report["codec"]["peak"], 1e-6)
    ok = ok and codec_ok and report["codec"]["samples"][0] == report["codec"]["samples"][1]
    report["ok"] = ok
    print(json.dumps(report))
    label = str(dtype).replace("torch.", "")
    if "graph_frames" in report:
        print(f"parity: greedy graph vs stock ({label}), {report['frames_identical_from_start']}/"
              f"{report['compared']} frames identical from the start ({report['frames_identical']} in all) -> "
              f"{'ok' if frames_ok else 'FAILED'}")
    else:
        print(f"parity: graph path {report['graph']}; stock path made {len(stock)} frames")
    print(f"parity: stateful codec decode vs one-shot ({label}), max diff {report['codec']['max_diff']:.2e} "
          f"of peak {report['codec']['peak']:.3f} -> {'ok' if codec_ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
