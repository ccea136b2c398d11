"""Run in the TTS venv by test_tts_graph_standin.py: ``python -m tests.engines.tts_graph_check CUSTOM BASE VOICES``.

The CUDA-graph path (engines/tts/fast.py GraphPath) on the CPU through the capture
stand-in (tests/engines/cuda_standin.py), against the stock path, both greedy in float32
on the tiny models. One sequence of sentences through ``Synthesizer``: a preset speaker,
an x-vector clone, the preset again, an ICL clone, a sentence cancelled after a few
frames, then a preset sentence; on the graph path the Base model's talker shares the
CustomVoice one's tensors (``TalkerSlot``), so the sequence swaps the slot both ways.
Then faults injected into the real graphs. Prints one JSON object for the test to assert on.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import numpy as np
import torch

from engines.common.handler import CancelToken
from engines.protocol.errors import Cancelled
from engines.tts import fast, loader
from engines.tts.backend import Synthesizer
from engines.tts.fast import GraphPath, StockPath
from engines.tts.slot import TalkerSlot
from engines.tts.store import VoiceStore
from tests.engines import cuda_standin as standin
from tests.engines import cuda_standin_selftest

CAP = 8  # frames per sentence: the stock path makes CAP - 1
CANCEL_AFTER = 2
SENTENCES = [("ryan", "Hello there, a test."), ("xvec", "A cloned voice is speaking now."),
             ("ryan", "Back to the preset speaker."), ("icl", "In context learning, cloned."),
             ("vivian", "This sentence is cancelled midway."), ("aiden", "And this one follows the cancel.")]
CANCELLED = 4


class Recorded:
    """A frame path that keeps every frame and can cancel a sentence after some frames."""

    def __init__(self, path: Any) -> None:
        self.path, self.name, self.schedule = path, path.name, path.schedule
        self.frames: list[torch.Tensor] = []
        self.cancel: tuple[CancelToken, int] | None = None

    def generate(self, wrapper, text, language, speaker, item, cap, on_frame) -> None:
        def keep(frame):
            if frame is not None:
                self.frames.append(frame.clone())
                if self.cancel and len(self.frames) == self.cancel[1]:
                    self.cancel[0].cancel()
            on_frame(frame)

        self.path.generate(wrapper, text, language, speaker, item, cap, keep)


def speak_all(synth: Synthesizer, recorded: Recorded, cancel: bool) -> list[dict]:
    out = []
    for i, (voice, text) in enumerate(SENTENCES):
        recorded.frames, audio, token = [], [], CancelToken()
        if cancel and i == CANCELLED:
            recorded.cancel = (token, CANCEL_AFTER)
        cancelled = False
        try:
            synth.speak(audio.append, text, synth.choose(voice), "en", token=token, cap=CAP)
        except Cancelled:
            cancelled = True
        recorded.cancel = None
        out.append({"frames": torch.stack(recorded.frames) if recorded.frames else torch.zeros(0, 16),
                    "audio": np.concatenate(audio) if audio else np.zeros(0, np.float32), "cancelled": cancelled})
    return out


class LoopReads:
    """Host reads of device values in each step (each ``next()``) of the graph path's frame loops."""

    def __init__(self) -> None:
        self.sentences: dict[str, list[list[list[str]]]] = {"sisyphus": [], "library": []}
        self.host: torch.Tensor | None = None  # the mailbox: a host buffer, reading it waits for no device

    def install(self) -> None:
        fast.graph_frames = self._counted("sisyphus", fast.graph_frames)
        fast._library_frames = self._counted("library", fast._library_frames)

    def _counted(self, name: str, loop: Any) -> Any:
        def counted(*args, **kwargs):
            frames, steps = loop(*args, **kwargs), []
            self.sentences[name].append(steps)
            try:
                while True:
                    reads = standin.HostReads(allowed=(self.host,) if self.host is not None else ())
                    try:
                        with reads.counting():
                            frame = next(frames, None)
                    finally:
                        steps.append(reads.kinds)
                    if frame is None:
                        return
                    yield frame
            finally:
                frames.close()
        return counted

    def report(self) -> dict:
        return {name: {"sentences": len(runs), "first_step": sorted({k for steps in runs for k in steps[0]}),
                       "later_steps": sum(len(steps) - 1 for steps in runs),
                       "later_reads_per_step": sorted({len(k) for steps in runs for k in steps[1:]}),
                       "later_kinds": sorted({k for steps in runs for kinds in steps[1:] for k in kinds})}
                for name, runs in self.sentences.items()}


def library_loop(synth: Synthesizer, recorded: Recorded, path: GraphPath, stock: list[dict]) -> list[bool]:
    """faster-qwen3-tts' own loop (--graph-loop library) on the same graphs: a preset and an ICL sentence."""
    path.loop, equal = "library", []
    try:
        for i in (0, 3):
            recorded.frames = []
            voice, text = SENTENCES[i]
            synth.speak(lambda audio: None, text, synth.choose(voice), "en", token=CancelToken(), cap=CAP)
            equal.append(bool(torch.equal(torch.stack(recorded.frames), stock[i]["frames"])))
    finally:
        path.loop = "sisyphus"
    return equal


def add_voices(store: VoiceStore) -> None:
    t = np.arange(24000 * 3) / 24000
    wave = (0.3 * np.sin(2 * np.pi * 150 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    store.add("xvec", wave, 24000, "")
    store.add("icl", wave, 24000, "A short reference transcript.")


def compare(stock: list[dict], graph: list[dict]) -> list[dict]:
    rows = []
    for (voice, _), s, g in zip(SENTENCES, stock, graph):
        n = len(g["frames"])
        peak = float(np.abs(s["audio"]).max()) if s["audio"].size else 0.0
        row = {"voice": voice, "stock_frames": len(s["frames"]), "graph_frames": n, "cancelled": g["cancelled"],
               "frames_equal": bool(torch.equal(s["frames"][:n], g["frames"])) and (g["cancelled"] or
                                                                                    n == len(s["frames"])),
               "audio_peak": peak}
        if not g["cancelled"]:
            same = s["audio"].size == g["audio"].size
            row["audio_samples_equal"] = same
            row["audio_max_diff"] = float(np.abs(s["audio"] - g["audio"]).max()) if same else None
        rows.append(row)
    return rows


def injected_item(path: GraphPath, talker: Any, config: Any) -> str:
    """A fresh predictor graph whose captured loop reads a value on the host must not capture."""
    from faster_qwen3_tts.predictor_graph import PredictorGraph

    original = PredictorGraph._full_loop

    def _full_loop(self):  # the stand-in replays a method by its name
        self.input_buf.sum().item()
        return original(self)

    PredictorGraph._full_loop = _full_loop
    try:
        path._predictor(talker, config, "cpu", torch.float32, (False, 50, 1.0, 0.9)).capture(num_warmup=1)
    except standin.HostSync as exc:
        return f"HostSync: {exc}"
    finally:
        PredictorGraph._full_loop = original
    return ""


def replaced_storage(synth: Synthesizer, path: GraphPath, talker: Any) -> dict:
    """A talker weight whose storage is replaced after capture (a slot that rebinds instead of copying).
    Our frame loop fails on it, the library's loop takes over (GraphPath's fallback) and fails too."""
    weight = talker.model.layers[0].mlp.gate_proj.weight
    original = weight.data
    weight.data = original.clone()
    try:
        synth.speak(lambda audio: None, SENTENCES[0][1], synth.choose("ryan"), "en", token=CancelToken(), cap=CAP)
        caught = ""
    except standin.StaleAddress as exc:
        caught = f"StaleAddress: {exc}"
    finally:
        weight.data = original
    loop, path.loop = path.loop, "sisyphus"
    return {"caught": caught, "loop_after": loop}


def unswapped(synth: Synthesizer, slot: TalkerSlot, recorded: Recorded, stock: list[dict]) -> bool:
    """A slot that marks the Base model loaded without bringing its weights in: do the frames show it?"""
    truth, use = slot.loaded, slot.use
    slot.use = lambda wrapper: setattr(slot, "loaded", wrapper) or 0.0
    recorded.frames = []
    try:
        voice, text = SENTENCES[1]
        synth.speak(lambda audio: None, text, synth.choose(voice), "en", token=CancelToken(), cap=CAP)
    finally:
        slot.use, slot.loaded = use, truth
    return not torch.equal(torch.stack(recorded.frames), stock[1]["frames"])


def without_slot(custom: Any, base: Any, store: VoiceStore, stock: list[dict]) -> dict:
    """Both models loaded apart (no shared talker, as when TalkerSlot raises SlotMismatch): does the Base
    model speak with its own weights, or is the graph path refused?"""
    with standin.standin():
        try:
            path = GraphPath([custom, base], "cpu", torch.float32, cache_len=256, greedy=True)
            path.capture()
        except Exception as exc:  # refusing is a right answer
            return {"refused": f"{type(exc).__name__}: {exc}", "base_frames_equal": None}
        recorded = Recorded(path)
        synth = Synthesizer(custom, base, store, path=recorded)
        voice, text = SENTENCES[1]
        synth.speak(lambda audio: None, text, synth.choose(voice), "en", token=CancelToken(), cap=CAP)
    return {"refused": "", "base_frames_equal": bool(torch.equal(torch.stack(recorded.frames), stock[1]["frames"]))}


def loop_fallback(synth: Synthesizer, path: GraphPath, recorded: Recorded, stock: list[dict]) -> dict:
    """Our frame loop failing (injected): before its first frame, faster-qwen3-tts' loop retries the sentence
    and serves from then on; after frames were spoken, the sentence fails (and theirs serves next)."""
    ours, out = fast.graph_frames, {}
    warnings: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: warnings.append(record.getMessage())
    logging.getLogger("engines.tts.fast").addHandler(handler)
    try:
        for after in (0, 2):
            def failing(*args, **kwargs):
                frames = ours(*args, **kwargs)
                try:
                    for i, frame in enumerate(frames):
                        if i == after:
                            raise RuntimeError("our frame loop failed (injected)")
                        yield frame
                finally:
                    frames.close()

            fast.graph_frames, path.loop, recorded.frames = failing, "sisyphus", []
            try:
                synth.speak(lambda audio: None, SENTENCES[0][1], synth.choose("ryan"), "en", token=CancelToken(),
                            cap=CAP)
                error = ""
            except RuntimeError as exc:
                error = str(exc)
            out[f"after_{after}"] = {"error": error, "loop": path.loop, "frames": len(recorded.frames),
                                     "frames_equal": bool(torch.equal(torch.stack(recorded.frames),
                                                                      stock[0]["frames"][:len(recorded.frames)]))}
    finally:
        fast.graph_frames, path.loop = ours, "sisyphus"
        logging.getLogger("engines.tts.fast").removeHandler(handler)
    return {**out, "warnings": [w for w in warnings if "frame loop failed" in w]}


def through_graphs(custom: Any, base: Any, store: VoiceStore, slot: TalkerSlot, stock: list[dict]) -> dict:
    """The sequence on the graph path (through the stand-in and the talker slot), then faults injected."""
    reads = LoopReads()
    reads.install()
    with standin.standin() as graphs:
        path = GraphPath([custom, base], "cpu", torch.float32, cache_len=256, greedy=True)
        path.capture()
        reads.host = path.mailbox.host
        recorded = Recorded(path)
        synth = Synthesizer(custom, base, store, path=recorded, slot=slot)
        graph = speak_all(synth, recorded, cancel=True)
        out = {"sentences": compare(stock, graph), "graphs": standin.summary(graphs), "swaps": slot.swaps,
               "predictor_graphs": len(path.predictors), "loop_after_sequence": path.loop}
        out["library_loop_equal"] = library_loop(synth, recorded, path, stock)
        out["loop_host_reads"] = reads.report()
        faults = {"item": injected_item(path, custom.model.talker, custom.model.config.talker_config),
                  "storage": replaced_storage(synth, path, custom.model.talker)}
        recorded.frames = []
        synth.speak(lambda audio: None, SENTENCES[0][1], synth.choose("ryan"), "en", token=CancelToken(), cap=CAP)
        faults["storage"]["after_restore_equal"] = bool(torch.equal(torch.stack(recorded.frames), stock[0]["frames"]))
        faults["unswapped_slot_seen"] = unswapped(synth, slot, recorded, stock)
        out["loop_fallback"] = loop_fallback(synth, path, recorded, stock)
    return {**out, "faults": faults}


def per_model_sampling(custom: Any, base: Any, store: VoiceStore, slot: TalkerSlot) -> dict:
    """Sampling as served (not greedy), the two models' predictors set apart: one predictor graph each,
    each captured once and replayed only for its own model; a top-p predictor cannot be captured."""
    defaults = base.generate_defaults
    base.generate_defaults = {**defaults, "subtalker_temperature": 0.7}
    counts: dict[str, int] = {}
    with standin.standin() as graphs:
        path = GraphPath([custom, base], "cpu", torch.float32, cache_len=256)
        path.capture()
        recorded = Recorded(path)
        synth = Synthesizer(custom, base, store, path=recorded, slot=slot)
        for voice, model in (("ryan", custom), ("xvec", base)):
            before = {id(g): g.graph.replays for g in path.predictors}
            recorded.frames = []
            synth.speak(lambda audio: None, "Sampled speech.", synth.choose(voice), "en", token=CancelToken(), cap=6)
            own = path.predictor[id(model)]
            counts[voice] = len(recorded.frames)
            counts[f"{voice}_own_predictor_replays"] = own.graph.replays - before[id(own)]
            counts[f"{voice}_other_predictor_replays"] = sum(
                g.graph.replays - before[id(g)] for g in path.predictors if g is not own)
        captured = [g["captures"] for g in standin.summary(graphs)]
        try:
            path._predictor(custom.model.talker, custom.model.config.talker_config, "cpu", torch.float32,
                            (True, 50, 0.9, 0.9)).capture(num_warmup=1)
            top_p = ""
        except standin.HostSync as exc:
            top_p = f"HostSync: {exc}"
    base.generate_defaults = defaults
    return {"predictor_graphs": len(path.predictors), "captures": captured, **counts, "top_p_capture": top_p}


def main(custom_dir: str, base_dir: str, voices: str) -> None:
    torch.set_num_threads(1)  # tiny models: more threads only spin on a shared CPU (3x the CPU time)
    started = time.perf_counter()
    custom = loader.load(custom_dir, "cpu", torch.float32, "sdpa")
    base = loader.load(base_dir, "cpu", torch.float32, "sdpa")
    store = VoiceStore(voices)
    add_voices(store)
    stock_path = Recorded(StockPath(greedy=True))
    stock = speak_all(Synthesizer(custom, base, store, path=stock_path), stock_path, cancel=False)
    differ = any(not torch.equal(a, b) for a, b in zip(custom.model.talker.state_dict().values(),
                                                      base.model.talker.state_dict().values()))
    apart = without_slot(custom, base, store, stock)
    slot = TalkerSlot(custom, base, pin=False)  # the Base talker's tensors are now the CustomVoice one's
    result = through_graphs(custom, base, store, slot, stock)
    result["sampling"] = per_model_sampling(custom, base, store, slot)
    result["talkers_differ"], result["without_slot"] = differ, apart
    print(json.dumps({**result, "toy": cuda_standin_selftest.run(), "engines_from": fast.__file__,
                      "seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
