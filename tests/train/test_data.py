"""`finetune --check`: every kind of bad item is named, good items pass, and transcripts / features are cached."""

from __future__ import annotations

import json

from ltu_desktop.cli import main
from ltu_desktop.train.data import IGNORE, tokenize

from .conftest import profile_args, write_clip


def test_check_reports_each_kind_of_bad_item(tmp_path, tiny_profile, capsys):
    for i in range(3):
        write_clip(tmp_path / f"ok{i}.wav", i)
    write_clip(tmp_path / "odd_rate.wav", 5, rate=22050)
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really a wave file at all" * 4)
    items = [
        {"audio_id": "ok0.wav", "instruction": "What is it?", "output": "A tone."},  # no input: transcript used
        {"audio_id": str(tmp_path / "ok1.wav"), "instruction": "What is it?", "input": "", "output": "A hum."},
        {"audio_id": "ok1.wav", "instruction": "What is it?", "input": "", "output": "A hum."},  # duplicate
        {"audio_id": "missing.wav", "instruction": "What is it?", "output": "Silence."},
        {"audio_id": "broken.wav", "instruction": "What is it?", "output": "Noise."},
        {"audio_id": "ok2.wav", "instruction": "What is it?", "output": "   "},
        {"audio_id": "ok2.wav", "instruction": "Describe it.", "output": "a very long answer " * 40},  # cut
        {"audio_id": "odd_rate.wav", "instruction": "What is it?", "output": "A whistle."},
        {"instruction": "No audio here.", "output": "?"},
        "not an item",
    ]
    data = tmp_path / "data.json"
    data.write_text(json.dumps(items))
    from ltu_desktop.paths import cache_dir

    def cached() -> set[str]:
        return {str(p) for p in (cache_dir() / "train").rglob("*") if p.is_file()}

    before = cached()
    code = main(["finetune", "--data", str(data), "--check", "--quiet", "--cutoff-len", "60",
                 *profile_args(tiny_profile)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("4 of 10 item(s) pass; 6 left out")
    for kind in ("duplicate", "missing-audio", "unreadable-audio", "empty-answer", "cut", "resampled", "bad-entry"):
        assert f": {kind}: " in out, kind
    assert "item 2 (ok1.wav): duplicate: same audio, instruction and answer as item 1 [left out]" in out
    assert "22050 Hz, resampled to 16000 Hz [kept]" in out
    assert "answer token(s) past the 60-token limit [kept]" in out

    # Features of the 4 kept clips and their transcripts were cached; a second check reads them back.
    first = cached()
    assert sum(p.endswith(".pt") for p in first - before) == 4
    assert sum(p.endswith(".json") for p in first - before) >= 1
    main(["finetune", "--data", str(data), "--check", "--quiet", "--cutoff-len", "60", *profile_args(tiny_profile)])
    assert cached() == first


def test_loss_only_on_answer_tokens_and_eos(tiny_profile):
    from ltu_desktop.engine.ltu_as import LTUAS
    from ltu_desktop.engine.tokenizer import SentencePieceTokenizer

    tok = SentencePieceTokenizer(tiny_profile.llm / "tokenizer.model")
    prompt_ids, _, prompt = LTUAS().prompt(tok, "What can be inferred?", "")
    ids, labels, lost = tokenize(tok, prompt_ids, prompt, "A dog barks.", cutoff=100)
    assert ids[:len(prompt_ids)] == prompt_ids and lost == 0
    assert labels[:len(prompt_ids)] == [IGNORE] * len(prompt_ids)
    answer = labels[len(prompt_ids):]
    assert answer[-1] == 2 and tok.decode(answer).strip() == "A dog barks."
    _, cut, lost = tokenize(tok, prompt_ids, prompt, "A dog barks.", cutoff=len(prompt_ids) + 2)
    assert len(cut) == len(prompt_ids) + 2 and lost == len(answer) - 2


def test_missing_data_file_is_a_clear_error(tmp_path, tiny_profile, capsys):
    code = main(["finetune", "--data", str(tmp_path / "nope.json"), "--check", "--quiet",
                 *profile_args(tiny_profile)])
    assert code == 1
    assert "cannot be read" in capsys.readouterr().err


def test_memory_plan_refuses_with_a_setting_that_fits(tiny_profile, monkeypatch):
    import pytest

    from ltu_desktop.engine import precision
    from ltu_desktop.engine.types import EngineError
    from ltu_desktop.train import loop

    settings = loop.TrainSettings(micro_batch_size=64, cutoff_len=2000, device="cpu")
    plan = loop.training_plan("cpu", "fp32")
    need = loop.training_memory(tiny_profile, plan, settings, available=1e9)
    assert {"LLM weights", "trainable + gradients + optimizer", "activations"} <= set(need.parts)
    small = loop.training_memory(tiny_profile, plan, loop.TrainSettings(micro_batch_size=1, cutoff_len=2000))
    room = (small.total_mb + need.total_mb) / 2
    monkeypatch.setattr(precision, "available_mb", lambda _device: room)
    with pytest.raises(EngineError, match="try --micro-batch-size"):
        loop.check_memory(tiny_profile, plan, settings)


def test_a_global_batch_splits_the_same_whatever_the_process_count():
    from ltu_desktop.train.loop import batches_per_epoch, micro_batches

    one, two = micro_batches(list(range(8)), 2, 1), micro_batches(list(range(8)), 2, 2)
    assert one == two == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert two[0::2] + two[1::2] == [[0, 1], [4, 5], [2, 3], [6, 7]]  # each process's share
    assert all(micro_batches(list(range(5)), 4, 4))  # no process is left without an item
    assert batches_per_epoch(9, 4, 2) == 2 and batches_per_epoch(10, 4, 2) == 3
