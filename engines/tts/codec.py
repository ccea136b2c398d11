"""Stateful streaming decode of Qwen3-TTS-12Hz codec frames: each chunk costs only its own frames.

The speech tokenizer's decoder is causal end to end (left-padded convolutions, transposed
convolutions trimmed on the right, a sliding-window causal transformer, pointwise
activations), so the audio of frame t depends only on frames <= t. Re-decoding 25 frames of
left context per chunk (what every streaming port does) makes small chunks expensive.
Instead ``CodecStream`` walks the decoder's own modules and carries, between calls, what
each causal layer needs from the past:

- a causal convolution: its last ``(kernel - 1) * dilation`` input samples;
- a transposed convolution: the ``kernel - stride`` output samples that the next input
  still adds to (bias added once, when a sample is final);
- the transformer: its key/value cache (sliding window) and the next position.

Decoding in pieces then equals the one-shot decode of the same codes up to float rounding
(tests/engines/test_tts_fast.py). A decoder whose layout this walk does not know raises
``UnsupportedDecoder`` at construction; the caller falls back to windowed re-decoding.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


class UnsupportedDecoder(RuntimeError):
    """The codec decoder has a layer this streaming walk does not know."""


_KNOWN = ("CausalConvNet", "CausalTransConvNet", "ConvNeXtBlock", "DecoderDecoderBlock", "ResidualUnit", "SnakeBeta")


def _kind(module: torch.nn.Module) -> str:
    name = type(module).__name__
    for kind in _KNOWN:
        if name.endswith(kind):
            return kind
    raise UnsupportedDecoder(f"codec decoder layer {name} has no streaming rule")


class CodecStream:
    """Decode a growing code sequence chunk by chunk with carried causal state."""

    def __init__(self, decoder: torch.nn.Module) -> None:
        self.decoder = decoder
        self.device = next(decoder.parameters()).device
        for module in self._walked():
            _kind(module)  # fail at construction, not mid-utterance
        for conv in (m for m in decoder.modules() if _kind_or_none(m) == "CausalConvNet"):
            if conv.stride != 1:
                raise UnsupportedDecoder(f"causal convolution with stride {conv.stride}")
        self.reset()

    def _walked(self) -> list[torch.nn.Module]:
        d = self.decoder
        top = [d.pre_conv, *(b for blocks in d.upsample for b in blocks), *d.decoder]
        return top + [b for m in top if _kind_or_none(m) == "DecoderDecoderBlock" for b in m.block]

    def reset(self) -> None:
        from transformers import DynamicCache

        self.state: dict[int, torch.Tensor] = {}
        self.cache = DynamicCache(config=self.decoder.pre_transformer.config)
        self.position = 0

    @torch.inference_mode()
    def push(self, codes: torch.Tensor) -> np.ndarray:
        """Audio (float32, 1920 samples per frame) of ``codes`` [frames, 16] following all earlier pushes."""
        codes = codes.to(self.device).T.unsqueeze(0).clamp(min=0)  # [1, 16, frames]
        frames = codes.shape[-1]
        d = self.decoder
        hidden = d.quantizer.decode(codes)
        hidden = self._run(d.pre_conv, hidden).transpose(1, 2)
        positions = torch.arange(self.position, self.position + frames, device=self.device)
        hidden = d.pre_transformer(inputs_embeds=hidden, past_key_values=self.cache, use_cache=True,
                                   cache_position=positions).last_hidden_state
        self.position += frames
        hidden = hidden.permute(0, 2, 1)
        for blocks in d.upsample:
            for block in blocks:
                hidden = self._run(block, hidden)
        for block in d.decoder:
            hidden = self._run(block, hidden)
        return hidden.clamp(-1, 1)[0, 0].float().cpu().numpy()

    # -- one layer ---------------------------------------------------------------------------
    def _run(self, module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        kind = _kind(module)
        if kind == "CausalConvNet":
            return self._conv(module, x)
        if kind == "CausalTransConvNet":
            return self._transposed(module, x)
        if kind == "ConvNeXtBlock":
            return self._convnext(module, x)
        if kind == "ResidualUnit":
            y = self._conv(module.conv1, module.act1(x))
            return self._conv(module.conv2, module.act2(y)) + x
        if kind == "DecoderDecoderBlock":
            for block in module.block:
                x = self._run(block, x)
            return x
        return module(x)  # SnakeBeta: pointwise

    def _conv(self, module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        """A left-padded convolution: prepend the carried samples instead of zeros."""
        keep = module.padding
        if keep == 0:
            return module.conv(x)
        past = self.state.get(id(module))
        if past is None:
            past = x.new_zeros(x.shape[0], x.shape[1], keep)
        joined = torch.cat([past, x], dim=-1)
        self.state[id(module)] = joined[..., -keep:]
        return module.conv(joined)

    def _transposed(self, module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Overlap-add: the last ``kernel - stride`` samples wait for the next input's share."""
        conv = module.conv
        stride = conv.stride[0]
        full = F.conv_transpose1d(x, conv.weight, None, stride=stride)  # (n - 1) * stride + kernel samples
        overlap = self.state.get(id(module))
        if overlap is not None:
            full[..., :overlap.shape[-1]] += overlap
        done = x.shape[-1] * stride
        self.state[id(module)] = full[..., done:]
        out = full[..., :done]
        return out + conv.bias[None, :, None] if conv.bias is not None else out

    def _convnext(self, module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        y = self._conv(module.dwconv, x).permute(0, 2, 1)
        y = module.pwconv2(module.act(module.pwconv1(module.norm(y))))
        return x + (module.gamma * y).permute(0, 2, 1)


def _kind_or_none(module: Any) -> str | None:
    try:
        return _kind(module)
    except UnsupportedDecoder:
        return None
