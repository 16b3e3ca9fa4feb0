"""Agreement of rounded and quantized engines with fp32, on the tiny test models."""

from __future__ import annotations

import pytest

from ltu_desktop.engine.engine import Engine
from ltu_desktop.engine.types import GenerationSettings
from ltu_desktop.bench.quality import agreement

QUESTIONS = ["Describe the sound.", "What is said?", "Is anyone speaking?"]
TRANSCRIPT = "the meeting is on monday"


def test_an_engine_agrees_with_itself_everywhere(tiny_engine, noise_audio):
    a = agreement(tiny_engine, tiny_engine, noise_audio, QUESTIONS, TRANSCRIPT, max_new_tokens=8)
    assert (a.first_token, a.free_running, a.forced) == (1.0, 1.0, 1.0)


def test_forced_choices_replay_the_greedy_answer(tiny_engine, noise_audio):
    clip = tiny_engine.prepare(noise_audio)
    s = GenerationSettings(temperature=0, max_new_tokens=8)
    list(tiny_engine.answer(clip, "Describe the sound.", transcript=TRANSCRIPT, settings=s))
    ids = tiny_engine.last_answer.token_ids
    assert tiny_engine.forced_choices(clip, "Describe the sound.", ids, transcript=TRANSCRIPT, settings=s) == ids


@pytest.mark.parametrize(("precision", "floor"), [("bf16", 0.85), ("int8", 0.75), ("nf4", 0.2)])
def test_quantized_tiny_models_stay_above_the_measured_floor(tiny_engine, tiny_profile, noise_audio, precision, floor):
    """Floors sit under what was measured on the random-weight tiny models (README, Quality), whose nearly
    flat logits make them the hardest case for rounding."""
    if precision == "nf4":
        pytest.importorskip("bitsandbytes")
    other = Engine.load(tiny_profile, device="cpu", precision=precision)
    a = agreement(tiny_engine, other, noise_audio, QUESTIONS, TRANSCRIPT, max_new_tokens=16)
    assert a.precision == precision and a.forced >= floor, a
