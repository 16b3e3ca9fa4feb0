"""Decoding rules against transformers' own logits processors, and the stop / seed / length contract."""

from __future__ import annotations

import threading

import pytest
import torch
from transformers import RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from ltu_desktop.engine.generate import decode, repetition_penalty, top_k_top_p
from ltu_desktop.engine.types import GenerationSettings


@pytest.mark.parametrize("penalty", [1.0, 1.1, 1.7])
def test_repetition_penalty_matches_transformers(penalty):
    torch.manual_seed(0)
    scores, seen = torch.randn(50), torch.tensor([3, 7, 7, 1, 49])
    ref = RepetitionPenaltyLogitsProcessor(penalty)(seen[None], scores[None].clone())[0]
    assert torch.allclose(repetition_penalty(scores, seen, penalty), ref)


@pytest.mark.parametrize("top_k,top_p,temp", [(500, 0.95, 0.1), (5, 1.0, 0.7), (10, 0.5, 1.0), (0, 0.9, 2.0)])
def test_sampling_filter_matches_transformers(top_k, top_p, temp):
    torch.manual_seed(1)
    scores = torch.randn(1, 300) * 3
    ref = TemperatureLogitsWarper(temp)(None, scores.clone())
    if top_k:
        ref = TopKLogitsWarper(top_k)(None, ref)
    if top_p < 1:
        ref = TopPLogitsWarper(top_p)(None, ref)
    ours = top_k_top_p(scores[0] / temp, top_k, top_p)
    assert torch.equal(torch.isinf(ours), torch.isinf(ref[0]))
    assert torch.allclose(ours[~torch.isinf(ours)], ref[0][~torch.isinf(ref[0])])


def _fake_model(vocab=20, eos_at=None):
    calls = []

    def step(token: int):
        calls.append(token)
        logits = torch.zeros(vocab)
        logits[(token + 1) % vocab] = 5.0
        if eos_at is not None and len(calls) >= eos_at:
            logits[2] = 10.0
        return logits

    first = torch.zeros(vocab)
    first[5] = 5.0
    return first, step, calls


def test_greedy_stops_at_eos_and_yields_it():
    first, step, _ = _fake_model(eos_at=3)
    out = list(decode(first, step, [1], GenerationSettings(temperature=0, max_new_tokens=50), frozenset({2})))
    assert out == [5, 6, 7, 2]


def test_max_new_tokens_is_the_number_of_generated_ids():
    first, step, calls = _fake_model()
    out = list(decode(first, step, [1], GenerationSettings(temperature=0, max_new_tokens=4), frozenset({2})))
    assert len(out) == 4 and len(calls) == 3


def test_stop_event_stops_within_one_token():
    first, step, calls = _fake_model()
    stop = threading.Event()
    out = []
    for tok in decode(first, step, [1], GenerationSettings(temperature=0, max_new_tokens=100), frozenset({2}), stop):
        out.append(tok)
        if len(out) == 3:
            stop.set()
    assert len(out) == 3 and len(calls) == 2


def test_seed_makes_sampling_reproducible():
    s = GenerationSettings(temperature=1.5, top_k=0, top_p=1.0, max_new_tokens=30, repetition_penalty=1.0)
    runs = []
    for seed in (7, 7, 8):
        first, step, _ = _fake_model()
        g = torch.Generator().manual_seed(seed)
        runs.append(list(decode(torch.zeros(20), lambda t: torch.zeros(20), [1], s, frozenset({99}), None, g)))
    assert runs[0] == runs[1] != runs[2]


def test_repetition_penalty_sees_the_prompt_ids():
    logits = torch.tensor([0.0, 0.0, 0.0, 2.0, 1.9])
    s = GenerationSettings(temperature=0, repetition_penalty=1.1, max_new_tokens=1)
    assert list(decode(logits, None, [1], s, frozenset({2}))) == [3]
    assert list(decode(logits, None, [1, 3], s, frozenset({2}))) == [4]
