"""Comparing models: identical bases are recognized by content; bases that do not fit together take turns."""

from __future__ import annotations

import shutil

from ltu_desktop.engine import precision
from ltu_desktop.engine.compare import load_comparison, same_base
from ltu_desktop.engine.types import GenerationSettings
from ltu_desktop.models.tiny import make_llm, make_tiny_ltu_profile


def test_bases_are_the_same_only_when_their_weight_files_are(tiny_profile, tmp_path):
    copy = shutil.copytree(tiny_profile.llm, tmp_path / "copy")
    assert same_base(tiny_profile.llm, tiny_profile.llm) and same_base(tiny_profile.llm, copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert not same_base(tiny_profile.llm, copy)
    assert not same_base(tiny_profile.llm, make_llm(tmp_path / "other", seed=7))


def test_bases_that_do_not_fit_together_take_turns(tiny_profile, tmp_path, noise_audio, monkeypatch):
    ltu = make_tiny_ltu_profile(tmp_path / "ltu", make_llm(tmp_path / "llm2", seed=7), tiny_profile.asr_whisper)
    one = precision.estimate(precision.plan("cpu", "fp32"), {"hidden_size": 64, "intermediate_size": 128,
                             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                             "vocab_size": 400}, [tiny_profile.asr_whisper], 0, available=1e9).total_mb
    monkeypatch.setattr(precision, "available_mb", lambda device: one * 1.5)
    comparison = load_comparison([ltu, tiny_profile], "cpu", "fp32")
    assert comparison.how == "one at a time"
    s = GenerationSettings(temperature=0, max_new_tokens=4)
    for i in range(2):
        engine = comparison.engine(i)
        list(engine.answer(engine.prepare(noise_audio), "Describe the sound.", settings=s))
        assert engine.last_answer.stats.new_tokens > 0 and not engine.shares_base
        comparison.done_with(i)
        assert comparison.loaded[i] is None
