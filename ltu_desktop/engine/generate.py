"""Token-by-token decoding with the authors' logits processing, a stop event and a seed.

Order per step, as transformers 4.28's `sample` applied it: repetition penalty over every text id
seen so far (the prompt's included; audio positions have no id), then temperature, top-k, top-p.
Temperature 0 is greedy: argmax after the repetition penalty.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from .types import GenerationSettings


def repetition_penalty(scores: Tensor, seen: Tensor, penalty: float) -> Tensor:
    if penalty == 1.0 or seen.numel() == 0:
        return scores
    picked = scores.gather(0, seen)
    return scores.scatter(0, seen, torch.where(picked < 0, picked * penalty, picked / penalty))


def top_k_top_p(scores: Tensor, top_k: int, top_p: float) -> Tensor:
    if 0 < top_k < scores.numel():
        kth = torch.topk(scores, top_k).values[-1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p < 1.0:
        sorted_scores, order = torch.sort(scores, descending=False)
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        remove = cumulative <= (1 - top_p)
        remove[-1] = False
        scores = scores.masked_fill(remove.scatter(0, order, remove), float("-inf"))
    return scores


def pick(logits: Tensor, seen: Tensor, s: GenerationSettings, generator: torch.Generator | None) -> int:
    # In the logits' own dtype, as the authors apply it: fp16 rounding makes ties that argmax must see too.
    scores = repetition_penalty(logits, seen, s.repetition_penalty).float()
    if s.temperature <= 0:
        return int(scores.argmax())
    scores = top_k_top_p(scores / s.temperature, s.top_k, s.top_p)
    return int(torch.multinomial(scores.softmax(dim=-1), 1, generator=generator))


def decode(
    first_logits: Tensor,
    step: Callable[[int], Tensor],
    prompt_ids: list[int],
    settings: GenerationSettings,
    eos_ids: frozenset[int],
    stop: threading.Event | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[int]:
    """Yield new token ids (the final EOS included) until EOS, max_new_tokens or stop.

    `step(id)` runs the model on one token and returns its logits; it is not called once stop is
    set, so stopping costs at most the token already in flight.
    """
    seen = torch.tensor(prompt_ids, dtype=torch.long, device=first_logits.device)
    logits = first_logits
    for n in range(settings.max_new_tokens):
        if stop is not None and stop.is_set():
            return
        token = pick(logits, seen, settings, generator)
        yield token
        if token in eos_ids or n + 1 == settings.max_new_tokens:
            return
        seen = torch.cat([seen, seen.new_tensor([token])])
        if stop is not None and stop.is_set():
            return
        logits = step(token)
