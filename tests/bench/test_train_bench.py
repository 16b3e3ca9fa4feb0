"""`bench --train-steps`: fine-tuning samples/s and peak memory on synthetic-7b's full-size shapes (one layer here),
and on a profile's own trainable model (tiny LTU here; synthetic-ltu is the same code at full size)."""

from __future__ import annotations

import json

import pytest

from ltu_desktop.cli import main


@pytest.mark.slow  # one full-size 7B layer + vocabulary in fp32: ~3.5 GB, tens of seconds
def test_training_bench_reports_speed_and_memory(tmp_path, capsys):
    assert main(["bench", "--train-steps", "2", "--quick", "--device", "cpu", "--precision", "fp32", "--quiet",
                 "--out", str(tmp_path)]) == 0
    r = json.loads((tmp_path / "bench-train.json").read_text())
    assert r["samples_per_s"] > 0 and r["peak_memory_mb"] > 0 and r["layers"] == 1
    assert r["trainable"]["audio"] == 44_599_296  # TLTR + projection at full size
    assert "samples/s" in capsys.readouterr().out


def test_training_bench_runs_a_profile_as_finetune_builds_it(tmp_path, capsys):
    from ltu_desktop.engine.ltu import read_ltu
    from ltu_desktop.models.profiles import resolve_profile

    assert main(["bench", "--train-steps", "2", "--quick", "--profile", "tiny-ltu", "--device", "cpu",
                 "--precision", "fp32", "--quiet", "--out", str(tmp_path)]) == 0
    r = json.loads((tmp_path / "bench-train.json").read_text())
    assert r["family"] == "ltu" and r["profile"] == "tiny-ltu" and r["audio_tokens"] == 32 and r["steps"] == 2
    assert r["samples_per_s"] > 0 and r["peak_memory_mb"] > 0
    weights = read_ltu(resolve_profile("tiny-ltu").adapter)
    assert r["trainable"]["audio"] == weights.audio_parameters()  # CAV-MAE and projection train
    assert r["trainable"]["lora"] == sum(t.numel() for t in weights.lora.values())
    assert "Fine-tuning tiny-ltu" in capsys.readouterr().out
