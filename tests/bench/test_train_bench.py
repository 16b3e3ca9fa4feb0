"""`bench --train-steps`: fine-tuning samples/s and peak memory on synthetic-7b's full-size shapes (one layer here)."""

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
