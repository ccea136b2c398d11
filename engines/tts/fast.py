"""The two ways frames are generated: qwen_tts' stock ``generate()``, or faster-qwen3-tts' CUDA graphs.

Both call ``on_frame(frame[16])`` for every codec frame as it exists and ``on_frame(None)``
when the talker ends; the caller decodes and streams. The graph path (faster-qwen3-tts
0.5.4, pinned: we use its graph classes, its input builders and its per-step generator)
captures the talker decode step and the 15-step code-predictor loop once, before the
engine answers ``describe``; our own loop (``steps.graph_frames``: no host sync per frame)
drives them and yields one frame at a time, so the chunk schedule is ours
(``streaming.GRAPH_SCHEDULE``), not its fixed ``chunk_size``. CUDA-graph replay skips
module hooks, so that path takes frames from the loop, not from a talker hook.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any, Callable, Generator, Iterator

import torch

from engines.protocol.errors import Cancelled

from .sampling import CannotCapture, predictor_sampling, talker_sampling
from .steps import TokenMailbox, graph_frames
from .streaming import DEFAULT_SCHEDULE, GRAPH_SCHEDULE

_LOG = logging.getLogger(__name__)
OnFrame = Callable[[Any], None]
_FAST_API = ("_prepare_generation", "_prepare_generation_custom", "_warmed_up")


class StockPath:
    """qwen_tts' own generate(), frames taken by a forward hook on the talker (CPU, or no graphs)."""

    name = "stock"
    schedule = DEFAULT_SCHEDULE

    def __init__(self, greedy: bool = False) -> None:
        self.overrides = {"do_sample": False, "subtalker_dosample": False} if greedy else {}

    def generate(self, wrapper: Any, text: str, language: str, speaker: str | None, item: Any, cap: int,
                 on_frame: OnFrame) -> None:
        input_ids = wrapper._tokenize_texts([wrapper._build_assistant_text(text)])
        if item is None:
            inputs = dict(input_ids=input_ids, instruct_ids=[None], languages=[language], speakers=[speaker],
                          non_streaming_mode=True)
        else:
            ref_ids = [wrapper._tokenize_texts([wrapper._build_ref_text(item.ref_text)])[0] if item.ref_text else None]
            inputs = dict(input_ids=input_ids, ref_ids=ref_ids, languages=[language], non_streaming_mode=False,
                          voice_clone_prompt=wrapper._prompt_items_to_voice_clone_prompt([item]))
        kwargs = wrapper._merge_generate_kwargs(max_new_tokens=cap, **self.overrides)
        eos = wrapper.model.config.talker_config.codec_eos_token_id
        with frame_hook(wrapper.model.talker, on_frame, eos):
            wrapper.model.generate(**inputs, **kwargs)


class GraphPath:
    """faster-qwen3-tts' CUDA graphs, shared by every loaded model (they share one talker slot)."""

    name = "graph"
    schedule = GRAPH_SCHEDULE

    def __init__(self, wrappers: list[Any], device: str, dtype: torch.dtype, cache_len: int,
                 greedy: bool = False, loop: str = "sisyphus") -> None:
        from faster_qwen3_tts import FasterQwen3TTS
        from faster_qwen3_tts.talker_graph import TalkerGraph

        owner = wrappers[0]
        talker, config = owner.model.talker, owner.model.config.talker_config
        _check_shared_talker(owner, wrappers[1:])
        # Each model keeps its own sampling (generation_config.json); the talker samples outside the
        # graphs, the code predictor inside, so one predictor graph per distinct predictor setting.
        self.sampling = {id(w): talker_sampling(w.generate_defaults, greedy) for w in wrappers}
        settings = {id(w): predictor_sampling(w.generate_defaults, greedy) for w in wrappers}
        predictors = {key: self._predictor(talker, config, device, dtype, key) for key in set(settings.values())}
        self.predictor = {wid: predictors[key] for wid, key in settings.items()}
        graph = TalkerGraph(talker.model, config, device=device, dtype=dtype, max_seq_len=cache_len)
        self.cache_len = cache_len
        self.fast = {id(w): FasterQwen3TTS(w, self.predictor[id(w)], graph, device=device, dtype=dtype,
                                           max_seq_len=cache_len) for w in wrappers}
        missing = [name for name in _FAST_API if not hasattr(self.fast[id(owner)], name)]
        if missing:
            raise RuntimeError(f"faster-qwen3-tts API changed (missing {missing}); engines/tts needs 0.5.4")
        self.talker_graph = graph
        self.predictors = list(predictors.values())
        self.loop = loop  # "sisyphus": steps.graph_frames (no host sync per frame); "library": faster-qwen3-tts'
        self.mailbox = TokenMailbox(cache_len + 2, torch.device(device))

    @staticmethod
    def _predictor(talker: Any, config: Any, device: str, dtype: torch.dtype, key: tuple) -> Any:
        from faster_qwen3_tts.predictor_graph import PredictorGraph

        do_sample, top_k, top_p, temperature = key
        return PredictorGraph(talker.code_predictor, talker.code_predictor.model.config, config.hidden_size,
                              device=device, dtype=dtype, do_sample=do_sample, top_k=top_k, top_p=top_p,
                              temperature=temperature)

    def capture(self, prefill_len: int = 64) -> None:
        """Capture the talker graph and every predictor graph (raises where CUDA graphs cannot be captured)."""
        fasts = list(self.fast.values())
        fasts[0].warmup(prefill_len=prefill_len)  # the talker graph and the first model's predictor graph
        for predictor in self.predictors:
            if not predictor.captured:
                predictor.capture()
        for fast in fasts[1:]:
            fast._warmed_up = True  # the graphs are shared: captured once

    def generate(self, wrapper: Any, text: str, language: str, speaker: str | None, item: Any, cap: int,
                 on_frame: OnFrame) -> None:
        fast = self.fast[id(wrapper)]
        if item is None:
            m, talker, config, tie, tam, tth, tpe = fast._prepare_generation_custom(
                text, language, speaker, instruct=None, non_streaming_mode=True)
        else:
            m, talker, config, tie, tam, tth, tpe, _ref = fast._prepare_generation(
                text, language=language, voice_clone_prompt=[item], non_streaming_mode=False)
        room = self.cache_len - tie.shape[1] - 1  # cap - 1 below: the stock path makes cap - 1 frames
        if cap > room:
            _LOG.warning("sentence budget %d frames cut to %d: the static cache holds %d positions "
                         "(raise --graph-cache)", cap, room, self.cache_len)
        budget = max(1, min(cap - 1, room))
        inputs = (talker, tie, tam, tth, tpe, config, self.predictor[id(wrapper)], self.talker_graph)
        sent = 0
        try:
            for frame in self._frames(inputs, budget, self.sampling[id(wrapper)]):
                on_frame(frame)
                sent += 1
        except (Cancelled, torch.OutOfMemoryError):
            raise
        except Exception as exc:
            if self.loop == "library":
                raise
            self.loop = "library"  # ours failed where theirs may not: theirs from now on, said once
            _LOG.warning("the graph path's frame loop failed (%s: %s); faster-qwen3-tts' loop serves from now on",
                         type(exc).__name__, str(exc)[:300])
            if sent:
                raise
            for frame in self._frames(inputs, budget, self.sampling[id(wrapper)]):
                on_frame(frame)
        on_frame(None)

    def _frames(self, inputs: tuple, budget: int, sampling: dict) -> Iterator[Any]:
        if self.loop == "library":
            frames = _library_frames(*inputs, max_new_tokens=budget, **sampling)
        else:
            frames = graph_frames(*inputs, self.mailbox, max_new_tokens=budget, min_new_tokens=2, **sampling)
        with contextlib.closing(frames):
            yield from frames


def _check_shared_talker(owner: Any, others: list[Any]) -> None:
    """The graphs are captured on the first model's talker tensors: every other model must use those very
    tensors (a ``TalkerSlot``), or its steps would run the first model's weights."""
    mine = {name: t.data_ptr() for name, t in owner.model.talker.named_parameters()}
    for wrapper in others:
        theirs = {name: t.data_ptr() for name, t in wrapper.model.talker.named_parameters()}
        if theirs != mine:
            raise CannotCapture(f"the {wrapper.model.tts_model_type} model does not share the "
                                f"{owner.model.tts_model_type} model's talker (no talker slot): one set of CUDA "
                                "graphs cannot serve both")


def _library_frames(*inputs: Any, max_new_tokens: int, **sampling: Any) -> Generator[Any, None, None]:
    """faster-qwen3-tts' own loop, one frame at a time (``--graph-loop library``: for comparison)."""
    from faster_qwen3_tts.streaming import fast_generate_streaming

    chunks = fast_generate_streaming(*inputs, max_new_tokens=max_new_tokens, min_new_tokens=2, chunk_size=1,
                                     **sampling)
    with contextlib.closing(chunks):
        for chunk, _timing in chunks:
            yield from chunk


@contextlib.contextmanager
def frame_hook(talker: torch.nn.Module, on_frame: OnFrame, eos: int) -> Iterator[None]:
    """Call ``on_frame(frame[16])`` after every talker step (None on the prefill step).

    The hook sits on a shared module, so it acts only in the thread that installed it:
    a generation still unwinding in another thread can never feed (or cancel) this one.
    """
    owner = threading.get_ident()

    def hook(_module: Any, _args: Any, output: Any) -> None:
        if threading.get_ident() != owner:
            return
        codec_ids = output.hidden_states[1]
        if codec_ids is None or int(codec_ids[0, 0]) == eos:
            on_frame(None)
        else:
            on_frame(codec_ids[0].detach())

    handle = talker.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
