"""The stand-in's own check: a toy step with one fault injected at a time must raise the right error.

Run by tests/engines/tts_graph_check.py in the TTS venv (it needs torch); the same faults
on the real talker and predictor graphs are injected there.
"""
from __future__ import annotations

from typing import Callable

import torch

from tests.engines import cuda_standin as standin


class Toy:
    """A captured step shaped like faster-qwen3-tts': static buffers, a weight, capture once, replay."""

    def __init__(self, fault: Callable[["Toy", torch.Tensor], None] | None = None) -> None:
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(4, 4)
        self.inp, self.out = torch.zeros(1, 4), torch.zeros(1, 4)
        self.scale = 2.0
        self.fault = fault

    def step(self) -> None:
        y = self.lin(self.inp) * self.scale
        if self.fault is not None:
            self.fault(self, y)
        self.out[0].copy_(y[0])  # through a view, as faster-qwen3-tts writes its output tokens

    @torch.inference_mode()
    def capture(self) -> None:
        self.inp.fill_(1.0)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.step()

    @torch.inference_mode()
    def run(self, x: torch.Tensor) -> torch.Tensor:
        self.inp.copy_(x)
        self.graph.replay()
        return self.out.clone()


def _capture_faults() -> dict[str, Callable]:
    def mask(toy, y):
        y[y > 0] = 0.0

    return {
        "item": lambda toy, y: y.sum().item(),
        "tolist": lambda toy, y: y.tolist(),
        "cpu": lambda toy, y: y.cpu(),
        "bool": lambda toy, y: bool(y.sum() > 0),
        "nonzero": lambda toy, y: torch.nonzero(y),
        "boolean_mask": mask,
        "synchronize": lambda toy, y: torch.cuda.synchronize(),
    }


def _replay_faults() -> dict[str, Callable[[Toy], None]]:
    def storage(toy):
        toy.lin.weight.data = toy.lin.weight.data.clone()

    def rebound(toy):
        toy.inp = torch.zeros(1, 4)

    def scale(toy):
        toy.scale = 3.0

    return {"weight_storage_replaced": storage, "input_buffer_rebound": rebound, "python_number_changed": scale}


def run() -> dict:
    """What each injected fault raised ("" for nothing), and whether the clean toy replays right."""
    out: dict = {}
    with standin.standin():
        toy = Toy()
        toy.capture()
        x = torch.randn(3, 1, 4)
        with torch.inference_mode():
            expected = [toy.lin(xi) * 2.0 for xi in x]
        out["clean"] = {
            "capture_left_no_trace": bool(torch.equal(toy.out, torch.zeros(1, 4))),
            "replays_equal_eager": all(torch.allclose(toy.run(xi), e) for xi, e in zip(x, expected)),
        }
        out["capture"] = {name: _raised(lambda: Toy(fault).capture()) for name, fault in _capture_faults().items()}
        out["replay"] = {}
        for name, fault in _replay_faults().items():
            toy = Toy()
            toy.capture()
            fault(toy)
            out["replay"][name] = _raised(lambda: toy.run(torch.ones(1, 4)))
    return out


def _raised(action: Callable[[], object]) -> str:
    try:
        action()
    except (standin.HostSync, standin.StaleAddress, standin.FrozenValue, standin.ReplayDiffers) as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=1))
