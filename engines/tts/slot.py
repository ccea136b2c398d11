"""One talker on the GPU for two models: CustomVoice and Base share its memory, swapped on demand.

Both 1.7B checkpoints have the same talker geometry (~3.9 GiB in bf16 each). The first model
keeps its talker on the device; the second model's talker parameters are made to point at
the very same device tensors, and its own weights wait in (pinned) host memory. Using a
model whose weights are not loaded exchanges the contents tensor by tensor: device ->
host for the outgoing model, host -> device for the incoming one. The device tensors never
move, so CUDA graphs captured on them stay valid for both models, and one static cache
serves both. The speech tokenizer is shared when both checkpoints carry the same one.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import torch

_LOG = logging.getLogger(__name__)


class SlotMismatch(RuntimeError):
    """The two talkers differ in layout: they cannot share one set of device tensors."""


def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    found = dict(module.named_parameters())
    found.update((name, buf) for name, buf in module.named_buffers() if buf is not None)
    return found


def _point_at(module: torch.nn.Module, name: str, tensor: torch.Tensor) -> None:
    owner_name, _, leaf = name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    if leaf in owner._parameters:
        owner._parameters[leaf].data = tensor
    else:
        owner._buffers[leaf] = tensor


class TalkerSlot:
    """The device-resident talker weights and which of two wrappers they currently hold."""

    def __init__(self, resident: Any, guest: Any, *, pin: bool | None = None) -> None:
        """``resident``: a wrapper whose model is on the device; ``guest``: one loaded on the CPU."""
        self.wrappers = {"resident": resident, "guest": guest}
        device_tensors = _tensors(resident.model.talker)
        host_tensors = _tensors(guest.model.talker)
        if device_tensors.keys() != host_tensors.keys() or any(
                device_tensors[k].shape != host_tensors[k].shape or device_tensors[k].dtype != host_tensors[k].dtype
                for k in device_tensors):
            raise SlotMismatch("the two models' talkers differ in layout or dtype")
        pin = torch.cuda.is_available() if pin is None else pin
        self.pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
        for name, on_device in device_tensors.items():
            host = host_tensors[name].detach()
            host = host.pin_memory() if pin else host.clone()
            self.pairs.append((on_device.detach(), host))
            _point_at(guest.model.talker, name, on_device)
        self.device = next(iter(device_tensors.values())).device
        self.loaded = resident
        self.swaps = 0
        self.last_swap_s = 0.0
        self._place_rest(resident, guest)

    def _place_rest(self, resident: Any, guest: Any) -> None:
        """Everything of the guest outside the talker goes to the device (speaker encoder: small)."""
        codec, guest_codec = resident.model.speech_tokenizer, guest.model.speech_tokenizer
        if _same_weights(codec.model, guest_codec.model):
            guest.model.speech_tokenizer = codec
            _LOG.info("the two models share one speech tokenizer")
        else:
            guest_codec.model.to(self.device)
            guest_codec.device = codec.device
        for name, child in guest.model.named_children():
            if name != "talker":
                child.to(self.device)
        guest.device = resident.device

    def bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t, _ in self.pairs)

    def use(self, wrapper: Any) -> float:
        """Make ``wrapper``'s talker weights the resident ones; return the seconds it took (0 if loaded)."""
        if wrapper is self.loaded:
            return 0.0
        started = time.perf_counter()
        with torch.inference_mode():
            for on_device, host in self.pairs:
                outgoing = on_device.clone()
                on_device.copy_(host, non_blocking=True)
                host.copy_(outgoing, non_blocking=True)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
        self.loaded = wrapper
        self.swaps += 1
        self.last_swap_s = time.perf_counter() - started
        _LOG.info("swapped the %s model's talker onto %s in %.0f ms (%.2f GiB)", wrapper.model.tts_model_type,
                  self.device, self.last_swap_s * 1000, self.bytes() / 2**30)
        return self.last_swap_s


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    ta, tb = a.state_dict(), b.state_dict()
    if ta.keys() != tb.keys():
        return False
    return all(ta[k].shape == tb[k].shape and torch.equal(ta[k].to(tb[k].device, tb[k].dtype), tb[k]) for k in ta)
