"""`ltu-desktop batch`: the OpenASQA file contract, per-item errors, resume, features once per file."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from ltu_desktop.cli import main


def _args(profile):
    return ["--llm", str(profile.llm), "--adapter", str(profile.adapter), "--whisper", str(profile.feature_whisper),
            "--asr-whisper", str(profile.asr_whisper), "--device", "cpu", "--quiet", "--temperature", "0",
            "--max-new-tokens", "6"]


def _clips(folder):
    rng = np.random.default_rng(3)
    sf.write(str(folder / "a.wav"), (rng.standard_normal(16000 * 4) * 0.1).astype(np.float32), 16000)
    sf.write(str(folder / "b.flac"), (rng.standard_normal(44100 * 13) * 0.1).astype(np.float32), 44100)
    (folder / "broken.wav").write_text("not audio")


def test_batch_contract_errors_and_order(tiny_profile, tmp_path, monkeypatch):
    _clips(tmp_path)
    items = [
        {"audio_id": "a.wav", "instruction": "Describe the sound.", "input": "a man speaks", "output": "ref one"},
        {"audio_id": "broken.wav", "instruction": "What is it?"},
        {"audio_id": str(tmp_path / "b.flac"), "instruction": "What is said?", "input": ""},
        {"audio_id": "a.wav", "instruction": "What is said?"},
        {"audio_id": "missing.wav", "instruction": "Hello?"},
    ]
    (tmp_path / "items.json").write_text(json.dumps(items))
    import ltu_desktop.engine.ltu_as as eng

    calls = []
    real = eng.encoder_states
    monkeypatch.setattr(eng, "encoder_states", lambda *a: calls.append(1) or real(*a))
    out = tmp_path / "out" / "results.json"
    code = main(["batch", "--input", str(tmp_path / "items.json"), "--output", str(out)] + _args(tiny_profile))
    rows = json.loads(out.read_text())
    assert code == 3 and [r["audio_id"] for r in rows] == [i["audio_id"] for i in items]
    assert rows[0]["input"] == "a man speaks" and rows[0]["ref"] == "ref one" and isinstance(rows[0]["pred_ids"], list)
    assert 2 not in rows[0]["pred_ids"] and len(rows[0]["pred_ids"]) <= 6 and "stats" in rows[0]
    assert "error" in rows[1] and "not a readable audio file" in rows[1]["error"]
    assert rows[2]["input"] == "" and "pred" in rows[2]
    assert rows[3]["input"] == "" and "pred" in rows[3]
    assert "no such file" in rows[4]["error"]
    assert len(calls) == 2


def test_resume_skips_finished_items(tiny_profile, tmp_path):
    _clips(tmp_path)
    items = [{"audio_id": "a.wav", "instruction": f"Question {i}?", "input": "x"} for i in range(3)]
    (tmp_path / "items.json").write_text(json.dumps(items))
    out = tmp_path / "results.json"
    args = ["batch", "--input", str(tmp_path / "items.json"), "--output", str(out)] + _args(tiny_profile)
    assert main(args) == 0
    rows = json.loads(out.read_text())
    first = [r["pred"] for r in rows]
    rows[1] = {"audio_id": "a.wav", "instruction": "Question 1?", "pending": True}
    rows[0]["pred"] = "kept from before"
    out.write_text(json.dumps(rows))
    assert main(args + ["--resume"]) == 0
    again = json.loads(out.read_text())
    assert again[0]["pred"] == "kept from before" and [r["pred"] for r in again[1:]] == first[1:]


def test_results_are_written_as_items_finish(tiny_profile, tmp_path, monkeypatch):
    _clips(tmp_path)
    items = [{"audio_id": "a.wav", "instruction": f"Q{i}?", "input": "x"} for i in range(3)]
    (tmp_path / "items.json").write_text(json.dumps(items))
    out = tmp_path / "results.json"
    import ltu_desktop.batch.runner as batch

    seen = []
    real = batch._write_atomic
    monkeypatch.setattr(batch, "_write_atomic", lambda p, rows: seen.append(sum("pred" in r for r in rows)) or real(p, rows))
    main(["batch", "--input", str(tmp_path / "items.json"), "--output", str(out)] + _args(tiny_profile))
    assert seen[:4] == [0, 1, 2, 3]


def test_a_null_input_means_no_transcript_like_an_empty_one(tiny_profile, tmp_path):
    _clips(tmp_path)
    items = [{"audio_id": "a.wav", "instruction": "What is it?", "input": None},
             {"audio_id": "a.wav", "instruction": "What is it?", "input": ""}]
    (tmp_path / "items.json").write_text(json.dumps(items))
    out = tmp_path / "results.json"
    assert main(["batch", "--input", str(tmp_path / "items.json"), "--output", str(out)] + _args(tiny_profile)) == 0
    null, empty = json.loads(out.read_text())
    assert null["input"] == "" and null["pred_ids"] == empty["pred_ids"]
