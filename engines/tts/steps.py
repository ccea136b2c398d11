"""The graph path's frame loop: faster-qwen3-tts' captured graphs, driven without host syncs.

faster-qwen3-tts' own loop (``streaming.fast_generate_streaming``) stops the CPU three
times per frame until the GPU has caught up: ``token.item()`` for the end-of-speech test,
``unique()`` in the repetition penalty and a boolean-mask index in the sampler. Each
stop leaves the GPU idle while Python launches the next step's kernels. This loop does
the same arithmetic with ops that never wait (a ``seen`` mask for the penalty,
``masked_fill`` for suppression) and reads each frame's first code a step late, from a
pinned host buffer the GPU writes asynchronously: the CPU queues step i+1 while the GPU
still runs step i. A frame is handed on once its code is known not to be the end; the
step queued past the end is discarded. Greedy frames equal the library's (tests/bench/
tts_parity.py on a GPU, tests/engines' capture stand-in on a CPU).
"""
from __future__ import annotations

from typing import Any, Generator

import torch
import torch.nn.functional as F


class Sampler:
    """The library's sampling order (suppress -> temperature -> top-k -> top-p -> draw), sync-free."""

    def __init__(self, vocab: int, eos: int, device: torch.device, *, temperature: float, top_k: int,
                 top_p: float, do_sample: bool, repetition_penalty: float) -> None:
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.do_sample, self.penalty = do_sample, repetition_penalty
        self.suppress = torch.zeros(vocab, dtype=torch.bool, device=device)
        self.suppress[max(0, vocab - 1024):] = True  # the codec's control ids, except the end
        self.suppress[eos] = False
        self.suppress_eos = self.suppress.clone()
        self.suppress_eos[eos] = True
        self.seen = torch.zeros(vocab, dtype=torch.bool, device=device)

    def note(self, token: torch.Tensor) -> None:
        """A first code now in the history (repetition penalty)."""
        self.seen.index_fill_(0, token.reshape(-1), True)

    def penalise(self, logits: torch.Tensor) -> torch.Tensor:
        if self.penalty == 1.0:
            return logits
        return torch.where(self.seen, torch.where(logits > 0, logits / self.penalty, logits * self.penalty), logits)

    def __call__(self, logits: torch.Tensor, allow_eos: bool) -> torch.Tensor:
        logits = logits.masked_fill(self.suppress if allow_eos else self.suppress_eos, float("-inf"))
        if not self.do_sample:
            return torch.argmax(logits, dim=-1)
        logits = logits / self.temperature
        if self.top_k > 0:
            kth = torch.topk(logits, min(self.top_k, logits.size(-1))).values[..., -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if self.top_p < 1.0:
            ordered, order = torch.sort(logits, descending=True)
            drop = torch.cumsum(F.softmax(ordered, dim=-1), dim=-1) > self.top_p
            drop[..., 0] = False
            logits = torch.full_like(logits, float("-inf")).scatter(-1, order, ordered.masked_fill(drop, float("-inf")))
        return torch.multinomial(F.softmax(logits, dim=-1), 1).squeeze(-1)


class TokenMailbox:
    """First codes copied to the host without waiting; ``read(i)`` waits only for step i's copy."""

    def __init__(self, size: int, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.host = torch.zeros(size, dtype=torch.long, pin_memory=self.cuda)
        self.events: dict[int, Any] = {}

    def post(self, index: int, token: torch.Tensor) -> None:
        self.host[index:index + 1].copy_(token.reshape(-1), non_blocking=self.cuda)
        if self.cuda:
            event = torch.cuda.Event()
            event.record()
            self.events[index] = event

    def clear(self) -> None:
        self.events.clear()  # copies still queued from a sentence that ended land before the next's

    def read(self, index: int) -> int:
        event = self.events.pop(index, None)
        if event is not None:
            event.synchronize()
        return int(self.host[index])


@torch.inference_mode()
def graph_frames(talker: Any, embeds: torch.Tensor, mask: torch.Tensor, trailing: torch.Tensor,
                 pad_embed: torch.Tensor, config: Any, predictor: Any, graph: Any, mailbox: TokenMailbox, *,
                 max_new_tokens: int, min_new_tokens: int = 2, **sampling: Any) -> Generator[torch.Tensor, None, None]:
    """Yield each frame ([16] codes, on the device) as soon as it is known to be speech."""
    eos = config.codec_eos_token_id
    sample = Sampler(config.vocab_size, eos, embeds.device, **sampling)
    out = talker.forward(inputs_embeds=embeds, attention_mask=mask, use_cache=True, output_hidden_states=True,
                         return_dict=True, trailing_text_hidden=trailing, tts_pad_embed=pad_embed,
                         generation_step=None, past_hidden=None, past_key_values=None)
    past_hidden, step_text = out.past_hidden, out.generation_step
    token = sample(out.logits[:, -1, :], allow_eos=min_new_tokens <= 0)
    start = graph.prefill_kv(out.past_key_values)
    graph.set_generation_state(mask, getattr(talker, "rope_deltas", None))
    codec_embed, head = talker.get_input_embeddings(), talker.codec_head
    code_embeds, groups = talker.code_predictor.get_input_embeddings(), config.num_code_groups
    mailbox.clear()
    mailbox.post(0, token)
    pending: torch.Tensor | None = None  # frame step-1: queued, its first code read as speech
    for step in range(max_new_tokens + 1):
        frame, last = None, False
        if step < max_new_tokens:
            sample.note(token)
            first_embed = codec_embed(token.unsqueeze(1))
            codes = predictor.run(torch.cat((past_hidden, first_embed), dim=1))
            frame = torch.cat([token.view(1), codes])
            last = start + step >= graph.max_seq_len - 1  # the static cache is full: this frame ends it
            if not last:
                summed = [first_embed] + [code_embeds[i](codes[i].view(1, 1)) for i in range(groups - 1)]
                inputs = torch.cat(summed, dim=1).sum(1, keepdim=True)
                inputs = inputs + (trailing[:, step_text].unsqueeze(1) if step_text < trailing.shape[1]
                                   else pad_embed)
                hidden = graph.run(inputs, position=start + step)
                logits = sample.penalise(head(hidden[:, -1, :]).unsqueeze(0))
                token = sample(logits.squeeze(0), allow_eos=step + 1 >= min_new_tokens)
                past_hidden = hidden[:, -1:, :].clone()
                step_text += 1
                mailbox.post(step + 1, token)
        if pending is not None:
            yield pending  # handed on while the GPU runs this step
        if frame is None or mailbox.read(step) == eos:
            return
        pending = frame
        if last:
            yield frame
            return
