"""Voice to voice (prints figures; not a test): key-up -> first audio sample written to the speaker,
through the real daemon with both of our engines, and their GPU memory together.

The daemon runs headless (--mic-file/--speaker-file) with the gpu profile: GLM-ASR, and Qwen3-TTS
with a CustomVoice and a Base model, started by daemon/supervisor/profiles.py itself (through a
small wrapper standing in for each engine venv's python). The LLM is a local OpenAI-protocol
server answering like a local 8B model: first token after 150 ms, then 100 tokens/s, four
sentences. The mic file is a voiced, vowel-like sound the VAD calls speech. Random weights never
stop by themselves: the ASR engine decodes --asr-rate tokens per second of audio
(SISYPHUS_ASR_FORCED_RATE) and the TTS engine at most --frames frames per sentence (its
--max-new-tokens; --graph-cache keeps the profile's static cache, so memory is as in use).
GPU memory: nvidia-smi per engine process, at rest (both ready) and peak (during the turns).

    .cache/venvs/asr/bin/python tests/fixtures/tiny_glmasr.py /tmp/v2v/asr
    .cache/venvs/tts/bin/python tests/fixtures/tiny_qwen3tts.py /tmp/v2v/tts
    PYTHONPATH=$PWD .venv/bin/python tests/bench/bench_v2v.py --models /tmp/v2v/tts --asr-model /tmp/v2v/asr \
        --device cpu
On a machine without engine venvs, give each engine's python as a command, e.g.
    --asr-python "PYTHONPATH=$SITE_ASR:$PWD python3" --tts-python "PYTHONPATH=$SITE_TTS:$PWD python3"
"""
from __future__ import annotations

import argparse
import re
import shlex
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engines.tts.loader import graph_cache_len  # noqa: E402  (torch-free at import)
from engines.tts.text import MAX_SENTENCE_CHARS  # noqa: E402
from tests.bench.gpu_memory import GpuMemory  # noqa: E402
from tests.bench.stats import percentile  # noqa: E402
from tests.support.daemon import Daemon, write_voiced_wav  # noqa: E402
from tests.support.openai_server import Script, ThreadedServer  # noqa: E402
from tests.support.spoken import REPLY, base_settings  # noqa: E402

STAGES = ("transcript", "first_token", "first_sentence", "first_audio", "end")
SPEECH_S = 2.0
PROFILE_FRAMES = 2048  # the TTS engine's --max-new-tokens default, which the gpu profile keeps
# The engines' start-up lines shown (the decoder, the TTS path, load times, GPU memory, the bench knob).
ENGINE_NOTE = re.compile(r"engine\.(asr|tts): .* (?:INFO|WARNING) engines[\w.]*: "
                         r"(.*(?:benchmark knob|decoder:|ready in|CUDA graphs|loaded ).*)")


def engine_wrapper(data_home: Path, name: str, command: str, extra: list[str]) -> None:
    """The gpu profile runs ``<data dir>/venvs/<name>/bin/python -m engines.<name> ...``: put the given
    command there (``exec`` keeps the pid the daemon reports), with the bench's arguments last."""
    python = data_home / "sisyphus" / "venvs" / name / "bin" / "python"
    python.parent.mkdir(parents=True, exist_ok=True)
    argv = " ".join(shlex.quote(word) for word in shlex.split(command))
    python.write_text(f'#!/bin/sh\nexec env {argv} "$@" {" ".join(extra)}\n')
    python.chmod(0o755)


def engines_ready(d: Daemon) -> bool:
    engines = d.status()["engines"]
    failed = {name: e["reason"] for name, e in engines.items() if e["state"] == "failed"}
    if failed:
        raise AssertionError(f"engine failed to start: {failed}; log:\n{d.log.read_text()[-3000:]}")
    return all(e["state"] == "ready" for e in engines.values())


def engine_notes(log: Path) -> list[str]:
    return [f"  {m[1]}: {m[2]}\n" for m in map(ENGINE_NOTE.search, log.read_text().splitlines()) if m]


def settings(args: argparse.Namespace, llm_url: str) -> dict:
    config = base_settings(llm_url)
    config["asr"].update(model=str(args.asr_model), device=args.device, ready_timeout_s=600.0)
    config["tts"].update(model=str(args.models / "custom_voice"), base_model=str(args.models / "base"),
                         device=args.device, ready_timeout_s=600.0)
    return config


def shares(reading: dict[int, int], pids: dict[str, int]) -> str:
    """``asr 4,970 / tts 8,820``: each engine's MiB, by its pid."""
    text = " / ".join(f"{name} {reading[pid]:,}" if pid in reading else f"{name} ?" for name, pid in pids.items())
    unknown = sorted(set(reading) - set(pids.values()))  # other processes, or pids seen in another namespace
    return text + (f"; other pids {unknown}" if unknown else "")


def daemon_for(args: argparse.Namespace, tmp: Path, llm_url: str) -> Daemon:
    """The daemon on the gpu profile, each engine's python replaced by the given command."""
    default = "PYTHONPATH={repo} {repo}/.cache/venvs/{name}/bin/python"
    tts_extra = ["--max-new-tokens", str(args.frames),
                 "--graph-cache", str(graph_cache_len(PROFILE_FRAMES, MAX_SENTENCE_CHARS))]
    for name, command, extra in (("asr", args.asr_python, []), ("tts", args.tts_python, tts_extra)):
        engine_wrapper(tmp / "data", name, command or default.format(repo=REPO, name=name), extra)
    mic = write_voiced_wav(tmp / "mic.wav", SPEECH_S)
    return Daemon(tmp, settings(args, llm_url), "--profile", "gpu", "--mic-file", str(mic),
                  "--speaker-file", str(tmp / "speaker.wav"),
                  env={"SISYPHUS_ASR_FORCED_RATE": str(args.asr_rate), "HF_HUB_OFFLINE": "1"})


def one_turn(d: Daemon, label: str) -> dict[str, float]:
    """Hold the key while the mic file plays; the turn's stage timings (ms from key-up)."""
    start = d.turn(hold_s=SPEECH_S + 0.3)
    end = d.turn_end(start, timeout=300)
    timings = d.events[end]["timings"]
    heard = [e["text"] for e in d.events[start:end] if e["kind"] == "transcript" and e["final"]]
    if "first_audio" not in timings:
        raise AssertionError(f"{label} produced no audio: timings {timings}, transcript {heard}; "
                             f"log:\n{d.log.read_text()[-3000:]}")
    print(f"{label}: {timings} transcript {heard}", flush=True)
    return timings


def run(args: argparse.Namespace, tmp: Path) -> int:
    server = ThreadedServer(default=Script(reply=REPLY, first_token_delay_s=0.15, delta_delay_s=0.01))
    gpu = GpuMemory()
    started = time.monotonic()
    try:
        with daemon_for(args, tmp, server.server.url).start(ready=()) as d:
            d.wait(lambda: engines_ready(d), 600, "both engines ready")
            pids = {name: e["pid"] for name, e in d.status()["engines"].items()}
            print(f"engines ready in {time.monotonic() - started:.1f} s (pids {pids}); daemon's own GPU reading: "
                  f"{d.status().get('vram')}\n{''.join(engine_notes(d.log))}", end="", flush=True)
            time.sleep(1.0)  # let the engines settle after their warm-up
            rest = dict(gpu.sample()) if gpu.available else {}
            gpu.reset_peak()
            print(f"GPU memory at rest: {sum(rest.values()):,} MiB ({shares(rest, pids)})" if gpu.available
                  else "GPU memory at rest: n/a (no nvidia-smi)", flush=True)
            one_turn(d, "warm-up")
            turns = [one_turn(d, f"turn {n + 1}") for n in range(args.turns)]
    finally:
        gpu.close()
        server.stop()
    with wave.open(str(tmp / "speaker.wav"), "rb") as wav:
        spoken_s = wav.getnframes() / wav.getframerate()
    if not spoken_s:
        raise AssertionError("the speaker file holds no audio")
    print(f"\nvoice to voice, headless daemon, gpu profile engines on {args.device}, LLM first token 150 ms then "
          f"100 tokens/s, {SPEECH_S:.0f} s of speech, {args.frames} frames per sentence; {spoken_s:.1f} s spoken")
    print(f"{'stage (ms from key-up)':<24}{'p50':>8}{'p90':>8}")
    for stage in STAGES:
        values = [t.get(stage, float("nan")) for t in turns]
        print(f"{stage:<24}{statistics.median(values):>8.1f}{percentile(values, 0.9):>8.1f}")
    first = [t["first_audio"] for t in turns]
    print(f"voice to voice (key-up -> first audio sample), p50 {statistics.median(first):.0f} ms, "
          f"p90 {percentile(first, 0.9):.0f} ms, {len(first)} turns")
    if gpu.available:
        print(f"GPU memory, both engines: rest {sum(rest.values()):,} MiB ({shares(rest, pids)}), peak "
              f"{gpu.peak_total:,} MiB (each one's peak: {shares(gpu.peak, pids)}); nvidia-smi, per process")
    else:
        print("GPU memory, both engines: n/a (no nvidia-smi)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, required=True, help="TTS models dir: custom_voice/ and base/")
    parser.add_argument("--asr-model", type=Path, required=True, help="GLM-ASR model dir")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    parser.add_argument("--turns", type=int, default=5, help="measured turns, after one warm-up turn")
    parser.add_argument("--frames", type=int, default=12, help="TTS frames per sentence at most (12.5 per second)")
    parser.add_argument("--asr-rate", type=float, default=4.0, help="ASR tokens decoded per second of speech")
    parser.add_argument("--asr-python", help="command running the ASR engine's python (default: its test venv)")
    parser.add_argument("--tts-python", help="command running the TTS engine's python (default: its test venv)")
    args = parser.parse_args()
    for path in (args.models / "custom_voice", args.models / "base", args.asr_model):
        if not (path / "config.json").is_file():
            parser.error(f"{path}: no model there (--help shows how to build one)")
    with tempfile.TemporaryDirectory(prefix="bench-v2v-") as tmp:
        try:
            return run(args, Path(tmp))
        except AssertionError as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    raise SystemExit(main())
