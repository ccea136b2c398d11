"""The GPU path's pieces that run on a CPU, in the TTS venv on the tiny models.

- The stateful codec decode (engines/tts/codec.py) equals the one-shot decode of the same
  codes, whatever the chunking, past the decoder's 72-frame attention window.
- The talker slot (engines/tts/slot.py): CustomVoice and Base share one set of talker
  tensors; swapping exchanges weights in place (tensor addresses never change, which is
  what keeps CUDA graphs valid), and speech through the slot equals speech without it.
- The backend choice in a real engine: asked for the graph path without CUDA, it serves
  through the stock path and says why, once, in its log and in ``describe``.
The whole graph path runs on a CPU through a capture stand-in in test_tts_graph_standin.py; the
GPU's own numerics and speed need a GPU: tests/bench/gpu_check.sh.
"""
from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from tests.engines.test_tts import Engine, child_env, describe, engine_argv
from tests.support.venvs import REPO

pytestmark = pytest.mark.engine_venv("tts")


def run_script(python, script: str, *args) -> dict:
    done = subprocess.run([str(python), "-c", script, *map(str, args)], capture_output=True, text=True,
                          env=child_env(), cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


CODEC = r"""
import json, sys
import numpy as np, torch
from engines.tts import loader
from engines.tts.codec import CodecStream
wrapper = loader.load(sys.argv[1], "cpu", torch.float32, "sdpa")
decoder = wrapper.model.speech_tokenizer.model.decoder
codes = torch.randint(0, 2048, (150, 16), generator=torch.Generator().manual_seed(3))
with torch.inference_mode():
    oneshot = decoder(codes.T.unsqueeze(0))[0, 0].numpy()
results = {}
for name, sizes in {"graph": [1, 4, 8] + [12] * 11 + [5], "ones": [1] * 150, "whole": [150]}.items():
    stream, parts, at = CodecStream(decoder), [], 0
    for n in sizes:
        parts.append(stream.push(codes[at:at + n]))
        at += n
    streamed = np.concatenate(parts)
    results[name] = {"samples": len(streamed), "max_diff": float(np.abs(streamed - oneshot).max())}
print(json.dumps({"oneshot": len(oneshot), "peak": float(np.abs(oneshot).max()), **results}))
"""


def test_stateful_codec_decode_equals_one_shot_decode(tts_python, tiny_models):
    result = run_script(tts_python, CODEC, tiny_models["custom_voice"])
    assert result["oneshot"] == 150 * 1920 and result["peak"] > 0.01
    for name in ("graph", "ones", "whole"):
        assert result[name]["samples"] == result["oneshot"], result
        assert result[name]["max_diff"] <= 1e-5 * result["peak"], result  # float rounding only


SLOT = r"""
import json, sys
import numpy as np, torch
from engines.common.handler import CancelToken
from engines.tts import backend, loader
from engines.tts.slot import TalkerSlot
from engines.tts.store import VoiceStore

frames = []
class Recording(backend.FrameDecoder):
    def push(self, frame):
        frames.append(frame.clone())
        return super().push(frame)
backend.FrameDecoder = Recording

custom = loader.load(sys.argv[1], "cpu", torch.float32, "sdpa")
base = loader.load(sys.argv[2], "cpu", torch.float32, "sdpa")
store = VoiceStore(sys.argv[3])
t = np.arange(24000 * 4) / 24000
store.add("ref", (0.3 * np.sin(2 * np.pi * 150 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32),
          24000, "")

def speak_both(synth):
    out = {}
    for name in ("ref", "ryan", "ref"):
        frames.clear()
        torch.manual_seed(7)
        synth.speak(lambda audio: None, "Hello there, a test.", synth.choose(name), token=CancelToken(), cap=20)
        out.setdefault(name, []).append(torch.stack(frames))
    return out

plain = speak_both(backend.Synthesizer(custom, base, store))
originals = {k: v.clone() for k, v in custom.model.talker.state_dict().items()}
base_originals = {k: v.clone() for k, v in base.model.talker.state_dict().items()}
slot = TalkerSlot(custom, base, pin=False)
ptrs = [t.data_ptr() for t, _ in slot.pairs]
shared = all(a.data_ptr() == b.data_ptr() for a, b in zip(custom.model.talker.parameters(), base.model.talker.parameters()))
slotted = speak_both(backend.Synthesizer(custom, base, store, slot=slot))
slot.use(custom)
holds_custom = all(torch.equal(v, originals[k]) for k, v in custom.model.talker.state_dict().items())
slot.use(base)
holds_base = all(torch.equal(v, base_originals[k]) for k, v in custom.model.talker.state_dict().items())
print(json.dumps({
    "shared_tensors": shared, "addresses_kept": ptrs == [t.data_ptr() for t, _ in slot.pairs],
    "codec_shared": base.model.speech_tokenizer is custom.model.speech_tokenizer,
    "swaps": slot.swaps, "holds_custom_after_custom": holds_custom, "holds_base_after_base": holds_base,
    "frames": {k: [len(x) for x in v] for k, v in plain.items()},
    "equal": all(torch.equal(a, b) for k in plain for a, b in zip(plain[k], slotted[k])),
    "voices_differ": not torch.equal(plain["ref"][0][:5], plain["ryan"][0][:5]),
}))
"""


def test_talker_slot_swaps_weights_in_place_and_speaks_as_without_it(tts_python, tiny_models, tmp_path):
    result = run_script(tts_python, SLOT, tiny_models["custom_voice"], tiny_models["base"], tmp_path / "voices")
    assert result["shared_tensors"] and result["addresses_kept"] and result["codec_shared"], result
    assert result["swaps"] == 5, result  # -> base, -> custom, -> base (speaking), -> custom, -> base (checks)
    assert result["holds_custom_after_custom"] and result["holds_base_after_base"], result
    assert all(n >= 5 for counts in result["frames"].values() for n in counts), result
    assert result["voices_differ"] and result["equal"], result


def test_graph_backend_without_cuda_serves_stock_and_says_why(tts_python, tiny_models, tmp_path):
    sock = tmp_path / "tts.sock"
    argv = engine_argv(tts_python, tiny_models, f"unix://{sock}", tmp_path / "voices", "--backend", "graph",
                       "--no-warmup")
    running = Engine(argv, sock, tmp_path / "engine.log")
    try:
        about = asyncio.run(describe(running.uri)).tts[0].description
    finally:
        running.stop()
    assert about == "Qwen3-TTS-12Hz, streaming (stock path; stock because: no CUDA device (--device cpu))"
    why = [line for line in running.log_tail().splitlines() if "serving through qwen_tts' stock generation" in line]
    assert len(why) == 1 and why[0].endswith("no CUDA device (--device cpu)"), running.log_tail()
