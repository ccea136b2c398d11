"""Where a TTS frame's time goes on the graph path (prints figures; not a test).

    python tests/bench/tts_steps.py MODEL_DIR [--device cuda] [--frames 50]

On one loaded CustomVoice model: the prompt's prefill, one talker graph replay, one
code-predictor graph replay (CUDA-event timed, GPU time alone), a whole frame through our
loop and through faster-qwen3-tts' (wall time per frame over ``--frames``, CPU and GPU
together), and the stateful codec decode of a chunk of 1, 2, 4, 8 and 12 frames. The gap
between a frame's wall time and its graphs' GPU time is what Python, eager kernels and
host syncs cost. Without CUDA it runs the stock path only and says so.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from engines.tts import loader  # noqa: E402
from engines.tts.codec import CodecStream  # noqa: E402
from engines.tts.fast import GraphPath  # noqa: E402

TEXT = "The quick brown fox jumps over the lazy dog, and then it runs far away into the forest"


def gpu_ms(fn, repeats: int = 20) -> float:
    """Median GPU milliseconds of ``fn`` (CUDA events around each call)."""
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def wall_per_frame(path: GraphPath, wrapper, frames: int) -> tuple[float, float]:
    """(ms to the first frame, ms per frame after it) of one sentence, wall clock."""
    stamps: list[float] = []
    started = time.perf_counter()
    with torch.inference_mode():
        path.generate(wrapper, TEXT, "english", "ryan", None, frames + 1,
                      lambda frame: stamps.append(time.perf_counter()) if frame is not None else None)
    torch.cuda.synchronize()
    return 1000 * (stamps[0] - started), 1000 * (stamps[-1] - stamps[0]) / max(len(stamps) - 1, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--frames", type=int, default=50)
    args = parser.parse_args()
    device = loader.pick_device(args.device)
    if not device.startswith("cuda"):
        print("tts steps: no CUDA device: the graph path's figures need a GPU")
        return 0
    dtype = loader.pick_dtype("auto", device)
    wrapper = loader.load(str(args.model), device, dtype, "sdpa")
    rows = []
    for loop in ("sisyphus", "library"):
        path = GraphPath([wrapper], device, dtype, loader.graph_cache_len(2048, 300), loop=loop)
        path.capture()
        wall_per_frame(path, wrapper, 8)  # warm-up
        first, per = zip(*(wall_per_frame(path, wrapper, args.frames) for _ in range(3)))
        rows.append((f"frame, {loop} loop (wall)", statistics.median(per)))
        rows.append((f"first frame incl. prefill, {loop} loop (wall)", statistics.median(first)))
    hidden = torch.zeros(1, 1, path.talker_graph.hidden_size, dtype=dtype, device=device)
    rows.append(("talker graph replay (GPU)", gpu_ms(lambda: path.talker_graph.run(hidden, position=200))))
    predictor = path.predictors[0]
    pred_in = torch.zeros(1, 2, path.talker_graph.hidden_size, dtype=dtype, device=device)
    rows.append(("code predictor graph replay, 15 codes (GPU)", gpu_ms(lambda: predictor.run(pred_in))))
    decoder = wrapper.model.speech_tokenizer.model.decoder
    for n in (1, 2, 4, 8, 12):
        codes = torch.randint(0, 2048, (n, 16), device=device)
        stream = CodecStream(decoder)
        stream.push(torch.randint(0, 2048, (20, 16), device=device))

        def decode(codes=codes, stream=stream):
            stream.push(codes)

        rows.append((f"codec decode of {n} frame(s) incl. copy to host (GPU+wait)", gpu_ms(decode, 10)))
    print(f"\nTTS graph path, per step ({torch.cuda.get_device_name()}, {str(dtype).split('.')[-1]}, "
          f"static cache {path.cache_len})")
    for name, ms in rows:
        print(f"  {name:<58} {ms:>7.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
