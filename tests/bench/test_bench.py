"""`ltu-desktop bench`: the quick run CI does, and synthetic-7b's full-size modules built without any file."""

from __future__ import annotations

import json

import numpy as np

from ltu_desktop.audio.io import from_array
from ltu_desktop.cli import main


def test_quick_bench_writes_json_and_markdown(tmp_path, capsys):
    import shutil
    from pathlib import Path

    sample = Path(__file__).resolve().parents[2] / "resources" / "sample_meeting"
    speech = tmp_path / "set"
    speech.mkdir()
    for name in ("a", "b"):
        shutil.copy(sample.with_suffix(".wav"), speech / f"{name}.wav")
        shutil.copy(sample.with_suffix(".txt"), speech / f"{name}.txt")
    assert main(["bench", "--quick", "--profile", "tiny", "--device", "cpu", "--quiet", "--out", str(tmp_path),
                 "--asr-set", str(speech)]) == 0
    r = json.loads((tmp_path / "bench.json").read_text())
    for stage in ("load_cold", "load_warm", "audio_load", "transcript", "features", "audio_tokens", "prepare"):
        assert stage in r["stages_s"]
    # prepare built the audio + template head, so even the first question after loading reuses it
    assert len(r["questions"]) == 2 and all(q["reused_prefix_tokens"] > 0 for q in r["questions"])
    assert set(r["first_and_later"]) == {"first", "later_mean"}
    assert r["prefill"]["gflop_per_s"] > 0 and r["prefill"]["percent_of_peak"] > 0
    assert [b["backend"] for b in r["transcript_backends"]] == ["openai-whisper", "ctranslate2 float32"]
    assert {b["wer_against"] for b in r["transcript_backends"]} == {"reference texts of 2 clip(s)"}
    assert r["machine"]["memory_bandwidth_gbs"] > 0 and r["decode"]["percent_of_bound"] is not None
    md = (tmp_path / "bench.md").read_text()
    assert "| audio features of one window (front end) |" in md and "of the bound" in md
    assert "| first token (s) |" in md and "fp32 peak" in md and "| ctranslate2 float32 |" in md


def test_agreement_rows_compare_precisions_with_fp32(tmp_path):
    assert main(["bench", "--quick", "--profile", "tiny", "--device", "cpu", "--quiet", "--agreement",
                 "bf16,fp32/bf16", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "bench.json").read_text())["agreement_with_fp32"]
    # bf16's encoder is bf16 only on CPUs that multiply bf16 in hardware; the row says which ran
    assert rows[0]["precision"] in ("bf16", "bf16, encoder fp32") and rows[1]["precision"] == "fp32, encoder bf16"
    assert all(0.5 <= r["forced"] <= 1.0 for r in rows)
    assert f"| {rows[0]['precision']} |" in (tmp_path / "bench.md").read_text()


def test_synthetic_7b_has_the_released_shapes(tmp_path):
    from ltu_desktop.engine.precision import plan
    from ltu_desktop.bench.synthetic import build_engine

    engine = build_engine(plan("cpu", "bf16"), layers=1)
    llm = engine.lm.llm
    assert llm.config.hidden_size == 4096 and llm.config.vocab_size == 32000
    assert llm.model.layers[0].mlp.up_proj.weight.shape == (11008, 4096)
    assert engine.lm.front.proj[1].weight.shape == (4096, 1280) and len(engine.lm.front.encoder.blocks) == 32
    assert engine.lm.llm.model.layers[0].self_attn.q_proj.lora_A["default"].weight.shape == (8, 4096)
    feats = engine.prepare(from_array(np.zeros(16000 * 2, dtype=np.float32))).features
    assert feats.shape == (32, 25, 1280)


def test_synthetic_ltu_has_the_released_shapes():
    """The CAV-MAE front end at full size, and the trainable count with LoRA r=8 on 32 layers: the authors'
    93,065,216. (The 7B LLM half is synthetic-7b's, tested above.)"""
    from ltu_desktop.bench.synthetic import LORA_RANK, _lora, _ltu_front
    from ltu_desktop.engine.precision import plan

    front = _ltu_front(plan("cpu", "bf16"), 4096)
    assert len(front.encoder.blocks_a) == 11 and len(front.encoder.blocks_u) == 1 and front.window_seconds == 10.24
    assert front.proj[1].weight.shape == (4096, 768) and LORA_RANK == 8
    lora = sum(t.numel() for t in _lora(4096, 32).values())
    assert lora + sum(p.numel() for p in front.parameters()) == 93_065_216
    features = front.features(from_array(np.zeros(16000 * 2, dtype=np.float32)), 0.0)
    assert features.shape == (1, 512, 768) and front.tokens(features).shape == (1, 32, 4096)


def test_the_transcript_stage_at_full_size_runs_each_backend_for_the_same_tokens():
    """Shrunk dims here; `--transcript-full-size` uses large-v2's."""
    from ltu_desktop.bench.asr import LARGE_V2, full_size

    dims = LARGE_V2 | dict(n_audio_state=64, n_audio_head=2, n_audio_layer=1, n_text_state=64, n_text_head=2,
                           n_text_layer=1)
    rows = full_size(from_array(np.zeros(16000, dtype=np.float32)), tokens=6, dims=dims)
    assert [r["backend"] for r in rows] == ["openai-whisper float32", "ctranslate2 float32", "ctranslate2 int8"]
    assert all(r["decoded_tokens"] >= 6 and r["stage_s"] > 0 for r in rows) and rows[0]["speedup"] == 1.0
