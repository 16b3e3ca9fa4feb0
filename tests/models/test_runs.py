"""Run folders as model choices: each reason a run cannot be loaded is named, and the choice survives a restart."""

from __future__ import annotations

import json

from ltu_desktop.models.runs import find_runs, read_run
from ltu_desktop.settings import ModelChoice, Settings


def _run(folder, base, **card):
    folder.mkdir(parents=True)
    (folder / "adapter.bin").write_bytes(b"weights")
    start = {"llm": str(base), "adapter": str(base / "a6.bin"), "feature_whisper": None, "asr_whisper": None}
    (folder / "training.json").write_text(json.dumps({
        "family": "ltu-as", "status": "finished", "start": start, "step": 30, "total_steps": 30,
        "data": {"items": 500, "used": 480, "train": 456, "validation": 24},
        "settings": {"epochs": 3, "batch_size": 16, "learning_rate": 2e-4, "device": "cuda", "precision": "nf4"},
        "steps": [{"step": 30, "loss": 0.5}], "best": {"step": 20, "loss": 0.75}, **card}))
    return folder


def test_a_card_says_what_a_person_picks_a_run_by(tmp_path):
    card = read_run(_run(tmp_path / "runs" / "faults", tmp_path))
    assert card.available and card.label() == "faults (fine-tuned on 480 examples)"
    assert card.describe().splitlines()[1:5] == [
        f"Base: a6.bin on {tmp_path.name}", "Data: 480 of 500 item(s) used (456 to train, 24 to validate)",
        "Training: 3 epoch(s), step 30 of 30; batch 16, learning rate 0.0002, cuda nf4",
        "Best validation loss: 0.7500 (step 20; this adapter)"]


def test_each_reason_a_run_cannot_be_loaded_is_named(tmp_path):
    runs = tmp_path / "runs"
    (_run(runs / "no-adapter", tmp_path) / "adapter.bin").unlink()
    _run(runs / "base-gone", tmp_path / "moved")
    (_run(runs / "damaged", tmp_path) / "training.json").write_text('{"step": "many"}')
    (runs / "not-a-run").mkdir()
    found = {c.name: c.problem for c in find_runs([str(runs / "not-a-run"), str(tmp_path / "gone")], runs)}
    assert found == {
        "no-adapter": "it has no adapter.bin: the run saved no checkpoint",
        "base-gone": f"its base file {tmp_path / 'moved'} is gone",
        "damaged": "its training.json is damaged (invalid literal for int() with base 10: 'many')",
        "not-a-run": "it has no training.json, so it is not a fine-tuning run",
        "gone": "the folder is gone"}


def test_a_chosen_run_and_the_remembered_runs_survive_a_restart(tmp_path):
    s = Settings(model=ModelChoice(kind="run", run=str(tmp_path / "faults")), runs=[str(tmp_path / "faults")])
    again = Settings.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again.model == s.model and again.runs == s.runs and again.model.label() == "fine-tuned faults"
    assert again.model.problems() == {"run": f"the folder {tmp_path / 'faults'} is gone"}
