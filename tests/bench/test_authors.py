"""`bench --save-files` / `--authors`: synthetic files both pipelines load, and the side-by-side table.

The authors' own venv is needed only by the last test, which runs when LTU_AUTHORS_PYTHON names its
interpreter (scripts/authors_venv.sh builds one); the others stand in a canned JSON for their pipeline."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
import torch

from ltu_desktop.audio.io import load_audio
from ltu_desktop.bench import authors
from ltu_desktop.bench.runner import QUESTIONS, sample_clip
from ltu_desktop.bench.synthetic import save_files
from ltu_desktop.cli import main
from ltu_desktop.engine.engine import Engine
from ltu_desktop.engine.types import EngineError, GenerationSettings

TINY_LLM = dict(vocab_size=600, hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=4)
TINY_WHISPER = dict(n_state=64, n_head=4, n_layer=2)

THEIRS = {"features_s": 4.0, "load_s": 9.0, "peak_rss_mb": 18636.8, "questions": [
    {"question": QUESTIONS[0], "answer": "x", "prompt_tokens": 60, "features_s": 4.0, "first_token_s": 2.0,
     "new_tokens": 32, "tokens_per_s": 4.0, "generate_s": 10.0, "total_s": 14.0, "token_ids": [5, 6]},
    {"question": QUESTIONS[1], "answer": "y", "prompt_tokens": 61, "features_s": 4.0, "first_token_s": 2.2,
     "new_tokens": 32, "tokens_per_s": 4.0, "generate_s": 10.2, "total_s": 14.2, "token_ids": [7]}]}


def _ours() -> dict:
    return {"device": "cpu", "precision": "fp32", "stages_s": {"features": 2.0},
            "questions": [
                {"first_token_s": 1.0, "tokens_per_s": 8.0, "total_s": 5.0, "new_tokens": 32, "token_ids": [5, 6]},
                {"first_token_s": 0.5, "tokens_per_s": 8.0, "total_s": 3.55, "new_tokens": 32, "token_ids": [8]}],
            "first_and_later": {"first": {"with_prepare_s": 7.0}}, "memory_mb": {"peak_measured": 9318.4}}


def test_side_by_side_ratios_and_table():
    sbs = authors.side_by_side(_ours(), THEIRS)
    assert sbs["ours"]["answer_s"] == [7.0, 3.55] and sbs["theirs"]["answer_s"] == [14.0, 14.2]
    assert sbs["ratio"] == {"features": 2.0, "first_token": [2.0, 4.4], "decode": 2.0, "answer": [2.0, 4.0],
                            "memory": 0.5}
    md = authors.markdown(sbs)
    assert "| the authors' pipeline, cpu fp32 | 4.00 | 2.00 / 2.20 | 4.0 | 14.00 / 14.20 | 32 / 32 | 18.2 |" in md
    assert "| ltu-desktop, cpu fp32 | 2.00 | 1.00 / 0.50 | 8.0 | 7.00 / 3.55 | 32 / 32 | 9.1 |" in md
    assert "| ours vs theirs | 2.0x | 2.0x / 4.4x | 2.0x | 2.0x / 4.0x | | 0.5x |" in md
    assert sbs["same_tokens"] == [True, False] and "The same tokens as theirs in 1 of 2 answers" in md


def test_saved_files_load_in_our_engine_and_are_deterministic(tmp_path, monkeypatch):
    from ltu_desktop.bench import synthetic

    a = save_files(tmp_path / "a", 2, llm=TINY_LLM, whisper=TINY_WHISPER)
    b = save_files(tmp_path / "b", 2, llm=TINY_LLM, whisper=TINY_WHISPER, fmt="safetensors")
    assert (a.llm / "pytorch_model.bin").is_file() and (b.llm / "model.safetensors").is_file()  # one shard each
    monkeypatch.setitem(synthetic.SHARD_BYTES, "bin", 50_000)  # shards and an index, as the 7B release has
    c = save_files(tmp_path / "c", 2, llm=TINY_LLM, whisper=TINY_WHISPER)
    assert len(list(c.llm.glob("pytorch_model-*.bin"))) > 1 and (c.llm / "pytorch_model.bin.index.json").is_file()
    from safetensors.torch import load_file

    la, lb = torch.load(a.llm / "pytorch_model.bin", weights_only=True), load_file(b.llm / "model.safetensors")
    assert la.keys() == lb.keys() and all(torch.equal(la[k], lb[k]) for k in la)
    for x, y in ((a.adapter, b.adapter), (a.feature_whisper, b.feature_whisper)):
        sx, sy = torch.load(x, weights_only=True), torch.load(y, weights_only=True)
        sx, sy = sx.get("model_state_dict", sx), sy.get("model_state_dict", sy)
        assert sx.keys() == sy.keys() and all(torch.equal(sx[k], sy[k]) for k in sx)
    adapter = torch.load(a.adapter, weights_only=True)
    assert "base_model.model.model.layers.1.self_attn.v_proj.lora_B.default.weight" in adapter
    assert "base_model.model.model.audio_encoder.layer_tr.attn.query.weight" in adapter
    whisper = torch.load(a.feature_whisper, weights_only=True)
    assert whisper["dims"]["n_text_layer"] == 2 and any(k.startswith("decoder.") for k in whisper["model_state_dict"])
    config = json.loads((a.llm / "config.json").read_text())
    assert config["num_hidden_layers"] == 2 and config["model_type"] == "llama"

    answers = []
    for profile in (a, b, c):
        engine = Engine.load(profile, device="cpu", precision="fp32")
        assert engine.tokenizer.vocab_size == TINY_LLM["vocab_size"]  # every id the LLM can sample decodes
        clip = engine.prepare(load_audio(sample_clip()))
        "".join(engine.answer(clip, QUESTIONS[0], transcript="hello",
                              settings=GenerationSettings(max_new_tokens=4, seed=0)))
        answers.append(engine.last_answer.token_ids)
    assert answers[0] and answers[0] == answers[1] == answers[2]
    mtime = (a.llm / "config.json").stat().st_mtime_ns
    save_files(tmp_path / "a", 2, llm=TINY_LLM, whisper=TINY_WHISPER)
    assert (a.llm / "config.json").stat().st_mtime_ns == mtime  # the same set is reused, not rewritten


def _fake_authors(tmp_path: Path, reply: str) -> Path:
    """An 'interpreter' that passes the venv probe and prints `reply` as their pipeline's output."""
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\n[ \"$1\" = -c ] && exit 0\necho 'loading...' >&2\n{reply}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return fake


def test_bench_prints_the_side_by_side(tmp_path, tiny_profile, capsys):
    fake = _fake_authors(tmp_path, f"echo '{json.dumps(THEIRS)}'")
    out = tmp_path / "out"
    assert main(["bench", "--quick", "--llm", str(tiny_profile.llm), "--adapter", str(tiny_profile.adapter),
                 "--whisper", str(tiny_profile.feature_whisper), "--asr-whisper", str(tiny_profile.asr_whisper),
                 "--device", "cpu", "--quiet", "--out", str(out),
                 "--authors", str(fake)]) == 0
    r = json.loads((out / "bench.json").read_text())
    assert r["authors"]["peak_rss_mb"] == THEIRS["peak_rss_mb"]
    assert r["side_by_side"]["theirs"]["first_token_s"] == [2.0, 2.2]
    assert r["side_by_side"]["ours"]["features_s"] == r["stages_s"]["features"]
    assert all(len(q["token_ids"]) in (q["new_tokens"], q["new_tokens"] - 1) for q in r["questions"])  # less an end
    assert "| ours vs theirs |" in (out / "bench.md").read_text() and "| ours vs theirs |" in capsys.readouterr().out
    assert "loading..." in (out / "authors.log").read_text()


def test_failures_say_what_to_do(tmp_path, tiny_profile):
    from ltu_desktop.models.tiny import make_tiny_ltu_profile

    with pytest.raises(EngineError, match="not the authors' venv"):
        authors.check(Path(sys.executable), tiny_profile)
    ltu = make_tiny_ltu_profile(tmp_path / "ltu", tiny_profile.llm, tiny_profile.asr_whisper)
    with pytest.raises(EngineError, match="LTU-AS pipelines on the same files"):
        authors.check(Path(sys.executable), ltu)
    broken = _fake_authors(tmp_path, "echo 'Traceback: no module named skimage' >&2; exit 1")
    with pytest.raises(EngineError, match="exit 1.*no module named skimage"):
        authors.run(broken, tiny_profile, load_audio(sample_clip()).samples, [QUESTIONS[0]], "", 4, None,
                    tmp_path / "authors.log")
    with pytest.raises(SystemExit, match="--save-files writes synthetic-7b"):
        main(["bench", "--profile", "tiny", "--save-files", str(tmp_path / "f"), "--quiet", "--out", str(tmp_path)])


@pytest.mark.skipif(not os.environ.get("LTU_AUTHORS_PYTHON"), reason="LTU_AUTHORS_PYTHON names no authors' venv")
def test_authors_pipeline_runs_on_saved_files(tmp_path):
    """Their ATModel is 1280 wide: one full-width layer (~4 GB of files, minutes)."""
    profile = save_files(tmp_path / "files", 1)
    theirs = authors.run(Path(os.environ["LTU_AUTHORS_PYTHON"]), profile, load_audio(sample_clip()).samples,
                         list(QUESTIONS[:2]), "Hello team.", 2, None, tmp_path / "authors.log")
    assert theirs["unexpected_adapter_keys"] == 0 and len(theirs["questions"]) == 2
    assert all(q["new_tokens"] == len(q["token_ids"]) == 2 and q["first_token_s"] > 0 for q in theirs["questions"])
