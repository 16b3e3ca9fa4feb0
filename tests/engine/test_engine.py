"""The engine as the CLI and GUI see it: modes, windows, caches, streaming and stop."""

from __future__ import annotations

import threading

import pytest
import torch

from ltu_desktop.engine.engine import Engine
from ltu_desktop.engine.types import EngineError, GenerationSettings

GREEDY = GenerationSettings(temperature=0, max_new_tokens=10)
Q = "What can be inferred from the spoken text and sounds? Why?"


def _ids(engine, clip, question=Q, transcript="a man talks about a meeting", **kw):
    s = GenerationSettings(**{**GREEDY.to_dict(), **kw})
    text = "".join(engine.answer(clip, question, transcript=transcript, settings=s))
    assert text == engine.last_answer.text
    return engine.last_answer.token_ids


def test_features_have_layers_25_steps_and_width(tiny_engine, noise_audio):
    clip = tiny_engine.prepare(noise_audio)
    assert clip.features.shape == (3, 25, 64) and clip.window == (0.0, 10.0)


def test_audio_changes_the_answer_in_joint_and_audio_modes(tiny_engine, noise_audio, tone_audio):
    a, b = tiny_engine.prepare(noise_audio), tiny_engine.prepare(tone_audio)
    assert _ids(tiny_engine, a) != _ids(tiny_engine, b)
    assert _ids(tiny_engine, a, mode="audio") != _ids(tiny_engine, b, mode="audio")


def test_transcript_mode_does_not_hear_audio_and_audio_mode_ignores_transcript(tiny_engine, noise_audio, tone_audio):
    a, b = tiny_engine.prepare(noise_audio), tiny_engine.prepare(tone_audio)
    assert _ids(tiny_engine, a, mode="transcript") == _ids(tiny_engine, b, mode="transcript")
    assert not tiny_engine.last_answer.heard_audio
    assert _ids(tiny_engine, a, mode="audio", transcript="one") == _ids(tiny_engine, a, mode="audio", transcript="two")
    assert "### Input" not in tiny_engine.last_answer.prompt and tiny_engine.last_answer.heard_audio


def test_lora_changes_the_answer(tiny_profile, noise_audio):
    engine = Engine.load(tiny_profile, device="cpu", precision="fp32")
    clip = engine.prepare(noise_audio)
    with_lora = _ids(engine, clip)
    with torch.no_grad():
        for name, p in engine.lm.llm.named_parameters():
            if "lora_B" in name:
                p.zero_()
    engine._prefixes.clear()
    assert _ids(engine, clip) != with_lora


def test_window_selects_which_ten_seconds_are_heard(tiny_engine):
    import numpy as np

    from ltu_desktop.audio.io import from_array

    t = np.arange(16000 * 30) / 16000
    x = np.where(t < 15, 0.3 * np.sin(2 * np.pi * 300 * t), 0.05 * np.random.default_rng(1).standard_normal(t.size))
    audio = from_array(x.astype(np.float32))
    first, later = tiny_engine.prepare(audio), tiny_engine.prepare(audio, (18.0, 28.0))
    assert later.window == (18.0, 28.0)
    assert not torch.allclose(first.features, later.features)
    assert tiny_engine.prepare(audio, (25.0, 35.0)).window == (20.0, 30.0)
    assert tiny_engine.prepare(audio, (-3.0, 7.0)).window == (0.0, 10.0)


def test_features_are_computed_once_per_clip_and_window(tiny_engine, noise_audio, monkeypatch):
    import ltu_desktop.engine.ltu_as as eng

    tiny_engine.prepare(noise_audio, (1.0, 11.0))
    calls = []
    real = eng.encoder_states
    monkeypatch.setattr(eng, "encoder_states", lambda *a: calls.append(1) or real(*a))
    for _ in range(3):
        tiny_engine.prepare(noise_audio, (1.0, 11.0))
    assert calls == []


def test_prepare_builds_the_prefix_so_even_the_first_question_reuses_it(tiny_engine, noise_audio):
    clip = tiny_engine.prepare(noise_audio)
    _ids(tiny_engine, clip, question="Describe the sound.")
    assert tiny_engine.last_answer.stats.reused_prefix_tokens > 25
    second = _ids(tiny_engine, clip)
    assert tiny_engine.last_answer.stats.reused_prefix_tokens > 25
    tiny_engine._prefixes.clear()  # built inside the answer instead: the very same tokens
    assert _ids(tiny_engine, clip) == second
    assert tiny_engine.last_answer.stats.reused_prefix_tokens == 0


def test_loading_reads_every_weight_and_runs_the_llm_once(tiny_profile, monkeypatch):
    from ltu_desktop.engine import family

    calls = []
    monkeypatch.setattr(family.AudioLM, "prefill", lambda self, embeds, cache: calls.append(embeds.shape[1]))
    monkeypatch.setattr(family.AudioLM, "step", lambda self, token, cache: calls.append(1))
    stages = []
    Engine.load(tiny_profile, device="cpu", precision="fp32", progress=lambda s, f: stages.append(s))
    assert calls == [16, 16, 1] and any(s.startswith("Warming up") for s in stages)
    assert stages.index(next(s for s in stages if s.startswith("Warming up"))) < stages.index("Ready")


def test_stop_keeps_the_partial_answer(tiny_engine, noise_audio):
    clip = tiny_engine.prepare(noise_audio)
    stop = threading.Event()
    pieces = []
    s = GenerationSettings(temperature=0, max_new_tokens=200, repetition_penalty=1.0)
    for piece in tiny_engine.answer(clip, Q, transcript="x", settings=s, stop=stop):
        pieces.append(piece)
        if len(tiny_engine.last_answer.token_ids) >= 5:
            stop.set()
    a = tiny_engine.last_answer
    assert a.stopped and 5 <= len(a.token_ids) <= 6 and a.stats.new_tokens <= 6


def test_stats_are_filled(tiny_engine, noise_audio):
    _ids(tiny_engine, tiny_engine.prepare(noise_audio))
    st = tiny_engine.last_answer.stats
    assert st.first_token_s > 0 and st.new_tokens > 0 and st.peak_memory_mb > 0
    assert st.device == "cpu" and st.precision == "fp32" and st.prompt_tokens > 25


def test_bf16_runs_on_cpu(tiny_profile, noise_audio):
    e = Engine.load(tiny_profile, device="cpu", precision="bf16")
    assert e.lm.llm.dtype == torch.bfloat16 and e.lm.front.tltr.time_tr.attn_ln.weight.dtype == torch.float32
    assert len(_ids(e, e.prepare(noise_audio))) > 0


def test_bad_requests_are_clear_errors(tiny_engine, noise_audio, tiny_profile):
    with pytest.raises(EngineError, match="empty"):
        list(tiny_engine.answer(tiny_engine.prepare(noise_audio), "   "))
    with pytest.raises(EngineError, match="fp16 runs only on a GPU"):
        Engine.load(tiny_profile, device="cpu", precision="fp16")
    if not torch.cuda.is_available():
        with pytest.raises(EngineError, match="no CUDA GPU"):
            Engine.load(tiny_profile, device="cuda")


def test_cancel_stops_loading(tiny_profile):
    from ltu_desktop.engine.types import Cancelled

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        Engine.load(tiny_profile, device="cpu", cancel=cancel)


def test_transcribe_returns_segments_and_caches(tiny_engine, noise_audio):
    t1 = tiny_engine.transcribe(noise_audio)
    assert t1.no_speech and t1.text == ""
    assert tiny_engine.transcribe(noise_audio) is t1


def test_clips_waiting_during_load_are_transcribed_while_the_llm_loads(tiny_profile, noise_audio, monkeypatch):
    from ltu_desktop.engine import engine as engine_mod

    calls, seen_during_load = [], []
    family = engine_mod.FAMILIES["ltu-as"]
    real_run, real_build = engine_mod.Transcriber.run, family.load

    def slow_build(*args, **kwargs):
        """The LLM 'loads' until the side thread has transcribed the waiting clip (at most 60 s)."""
        assert any(t.name == "early-transcripts" for t in threading.enumerate())
        for _ in range(600):
            if calls:
                break
            threading.Event().wait(0.1)
        seen_during_load.append(bool(calls))
        return real_build(*args, **kwargs)

    monkeypatch.setattr(engine_mod.Transcriber, "run",
                        lambda self, a, **kw: calls.append(a) or real_run(self, a, **kw))
    monkeypatch.setattr(family, "load", slow_build)
    engine = Engine.load(tiny_profile, device="cpu", precision="fp32", early_clips=lambda: [noise_audio])
    assert seen_during_load == [True]
    engine.transcribe(noise_audio)
    assert len(calls) == 1  # the transcript made during loading is the one the clip gets


def test_the_question_goes_into_the_prompt_verbatim(tiny_engine, noise_audio):
    clip = tiny_engine.prepare(noise_audio)
    _ids(tiny_engine, clip, question="  What is it? \n")
    assert tiny_engine.last_answer.prompt.startswith("### Instruction:\n  What is it? \n\n\n### Input:\n")
    with pytest.raises(EngineError, match="empty"):
        list(tiny_engine.answer(clip, " \n "))
