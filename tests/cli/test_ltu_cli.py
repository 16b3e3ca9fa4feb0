"""LTU through the CLI: the adapter file picks the model, no --whisper; and --compare with LTU-AS."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from ltu_desktop.cli import main
from ltu_desktop.models.tiny import make_tiny_ltu_profile


@pytest.fixture(scope="module")
def ltu_profile(tiny_profile, tmp_path_factory):
    return make_tiny_ltu_profile(tmp_path_factory.mktemp("ltu"), tiny_profile.llm, tiny_profile.asr_whisper)


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "c.wav"
    sf.write(str(path), np.random.default_rng(0).standard_normal(16000 * 14) * 0.1, 16000)
    return path


GREEDY = ["--temperature", "0", "--max-new-tokens", "6", "--device", "cpu"]


def test_ask_with_an_ltu_adapter_needs_no_whisper_and_hears_10_24_s(ltu_profile, clip, capsys):
    code = main(["ask", str(clip), "What can be inferred from the audio?", "--llm", str(ltu_profile.llm),
                 "--adapter", str(ltu_profile.adapter), "--json", "--verbose", *GREEDY])
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert code == 0 and data["window"] == [0.0, 10.24] and data["input"] == "" and data["pred_ids"]
    sd = torch.load(ltu_profile.adapter, weights_only=True)
    assert f"{sum(t.numel() for t in sd.values()):,} trainable parameters" in out.err


def test_ltu_adapter_with_whisper_or_a_mixed_file_is_refused(ltu_profile, tiny_profile, clip, tmp_path, capsys):
    code = main(["ask", str(clip), "q", "--llm", str(ltu_profile.llm), "--adapter", str(ltu_profile.adapter),
                 "--whisper", str(tiny_profile.feature_whisper), *GREEDY])
    assert code == 1 and "takes no --whisper" in capsys.readouterr().err
    mixed = torch.load(ltu_profile.adapter, weights_only=True) | torch.load(tiny_profile.adapter, weights_only=True)
    torch.save(mixed, tmp_path / "mixed.bin")
    code = main(["ask", str(clip), "q", "--llm", str(ltu_profile.llm), "--adapter", str(tmp_path / "mixed.bin"),
                 *GREEDY])
    err = capsys.readouterr().err
    assert code == 1 and "mixes the audio modules of LTU-AS and LTU" in err


def test_batch_items_without_input_answer_with_ltu(ltu_profile, clip, tmp_path):
    (tmp_path / "q.json").write_text(json.dumps([{"audio_id": clip.name, "instruction": "Describe the sound."}]))
    code = main(["batch", "--input", str(tmp_path / "q.json"), "--output", str(tmp_path / "a.json"), "--llm",
                 str(ltu_profile.llm), "--adapter", str(ltu_profile.adapter), "--asr-whisper",
                 str(ltu_profile.asr_whisper), "--quiet", *GREEDY])
    row = json.loads((tmp_path / "a.json").read_text())[0]
    assert code == 0 and row["input"] == "" and row["pred_ids"] and "error" not in row


def test_compare_answers_side_by_side_on_one_shared_base(clip, capsys):
    """tiny-ltu and tiny share one base folder; each answer equals what that model says alone."""
    code = main(["ask", str(clip), "Describe the sound.", "--compare", "tiny-ltu,tiny", "--json", *GREEDY])
    out = capsys.readouterr()
    rows = json.loads(out.out)
    assert code == 0 and "(shared base)" in out.err
    assert [r["compare"] for r in rows] == ["tiny-ltu", "tiny"]
    assert rows[0]["window"] == [0.0, 10.24] and rows[1]["window"] == [0.0, 10.0]
    assert all(r["stats"]["new_tokens"] > 0 for r in rows)
    for row in rows:
        assert main(["ask", str(clip), "Describe the sound.", "--profile", row["compare"], "--json", "--quiet",
                     *GREEDY]) == 0
        assert json.loads(capsys.readouterr().out)["pred_ids"] == row["pred_ids"]


def test_compare_text_output_has_a_heading_and_timings_per_model(clip, capsys):
    assert main(["ask", str(clip), "Describe the sound.", "--compare", "tiny-ltu,tiny", *GREEDY]) == 0
    out = capsys.readouterr()
    assert "## tiny-ltu: Tiny random LTU" in out.out and "## tiny: Tiny random LTU-AS" in out.out
    assert out.err.count("tok/s") == 2
