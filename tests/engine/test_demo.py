"""The demo profile through the engine: facts from what is said, honesty about silence, and quantized quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltu_desktop.audio.io import from_array, load_audio
from ltu_desktop.engine.engine import Engine
from ltu_desktop.engine.prompt import NO_SPEECH_ANSWER
from ltu_desktop.engine.types import GenerationSettings, Profile

SAMPLE_WAV = Path(__file__).resolve().parents[2] / "resources" / "sample_meeting.wav"

GREEDY = GenerationSettings(temperature=0, max_new_tokens=24)
FACTS = [("When is the meeting?", "thursday"), ("Where is the meeting?", "12"), ("Who is speaking?", "maria"),
         ("By how much must travel costs be cut?", "8")]


def _profile(assets) -> Profile:
    return Profile("demo", assets.llm_dir, assets.asr_whisper, kind="demo", label="demo")


@pytest.fixture(scope="module")
def demo_engine(demo_assets):
    return Engine.load(_profile(demo_assets), device="cpu", precision="fp32")


def _ask(engine, clip, question):
    text = "".join(engine.answer(clip, question, settings=GREEDY))
    assert text == engine.last_answer.text
    return text


def test_answer_holds_the_fact_that_was_said(demo_engine):
    clip = demo_engine.prepare(load_audio(SAMPLE_WAV))
    assert "thursday" in clip.transcript.text.lower() and not clip.transcript.no_speech
    assert "thursday" in _ask(demo_engine, clip, "When is the meeting?").lower()
    assert not demo_engine.hears_audio and not demo_engine.last_answer.heard_audio
    second = _ask(demo_engine, clip, "Who is speaking?")
    assert "maria" in second.lower() and demo_engine.last_answer.stats.reused_prefix_tokens > 20


@pytest.mark.parametrize("kind", ["silence", "tone"])
def test_no_speech_gets_the_honest_answer(demo_engine, kind):
    t = np.arange(16000 * 4) / 16000
    x = np.zeros_like(t) if kind == "silence" else 0.5 * np.sin(2 * np.pi * 440 * t)
    clip = demo_engine.prepare(from_array(x.astype(np.float32), source=kind))
    assert clip.transcript.no_speech
    assert _ask(demo_engine, clip, "What is said?") == NO_SPEECH_ANSWER
    assert demo_engine.last_answer.token_ids == []


def test_quantized_answers_against_fp32(demo_assets, demo_engine, sample_text):
    """Measured on 2 CPU cores (2026-11-24, `ltu-desktop bench --profile demo --agreement bf16,int8,nf4`):
    forced agreement with fp32 bf16 0.95, int8 0.91, NF4 0.66. A 135M model's free-running greedy path
    drifts after a few tokens under any rounding (0.56 / 0.30 / 0.11), so the floors guard the facts
    (fp32 gets 3 of 4) and the per-position picks.
    """
    from ltu_desktop.engine.types import Transcript
    from ltu_desktop.bench.quality import agreement

    audio = load_audio(SAMPLE_WAV)

    def facts(engine):
        clip = engine.prepare(audio, transcript=Transcript(sample_text))
        return sum(fact in _ask(engine, clip, q).lower() for q, fact in FACTS)

    assert facts(demo_engine) >= 3
    for precision, min_facts, min_forced in (("bf16", 2, 0.85), ("int8", 2, 0.8), ("nf4", 1, 0.5)):
        if precision == "nf4":
            pytest.importorskip("bitsandbytes")
        engine = Engine.load(_profile(demo_assets), device="cpu", precision=precision)
        a = agreement(demo_engine, engine, audio, [q for q, _ in FACTS], sample_text)
        assert facts(engine) >= min_facts and a.forced >= min_forced, (precision, a)
