"""Sampling settings of each loaded model, as the CUDA-graph path needs them (pure: no torch).

A model's ``generation_config.json`` gives its talker's and its code predictor's sampling.
The talker samples outside the CUDA graphs (any setting works); the code predictor's
15-step loop is captured whole, its sampling with it, so a setting that needs the host
inside that loop cannot be captured and is refused here, with the fix.
"""
from __future__ import annotations


class CannotCapture(RuntimeError):
    """A setting the CUDA graphs cannot hold (the caller serves through the stock path, saying why)."""


def talker_sampling(defaults: dict, greedy: bool = False) -> dict:
    """The talker's sampling from a model's generation_config (it samples outside the graphs)."""
    chosen = {key: defaults.get(key, fallback) for key, fallback in
              (("temperature", 0.9), ("top_k", 50), ("top_p", 1.0), ("do_sample", True),
               ("repetition_penalty", 1.05))}
    if greedy:  # parity checks against the stock path
        chosen["do_sample"] = False
    return chosen


def predictor_sampling(defaults: dict, greedy: bool = False) -> tuple[bool, int, float, float]:
    """(do_sample, top_k, top_p, temperature) of the code predictor, whose sampling is captured in its graph.

    top-p filtering indexes with a boolean mask, a host sync that CUDA-graph capture
    refuses; a model that asks for it is served by the stock path, with this reason."""
    do_sample = bool(defaults.get("subtalker_dosample", True)) and not greedy
    top_p = float(defaults.get("subtalker_top_p", 1.0))
    if do_sample and top_p < 1.0:
        raise CannotCapture(f"subtalker_top_p={top_p} in the model's generation_config.json: top-p sampling "
                            "cannot run inside a CUDA graph (set it to 1.0, or use --backend stock)")
    return (do_sample, int(defaults.get("subtalker_top_k", 50)), top_p,
            float(defaults.get("subtalker_temperature", 0.9)))
