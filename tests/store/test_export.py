"""Export to Markdown and JSON (the answers of one "Ask both" side by side), and the JSON back in as
`batch --input`; the `history` command."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from ltu_desktop.store.export import export, to_markdown
from ltu_desktop.store.history import History

SETTINGS = {"temperature": 0.1, "top_p": 0.95, "top_k": 500, "max_new_tokens": 500, "mode": "joint"}
STATS = {"first_token_s": 0.42, "new_tokens": 12, "tokens_per_s": 10.5, "device": "cpu", "precision": "fp32"}


@pytest.fixture
def filled(tmp_path):
    """Two clips: a finished and a stopped answer in one conversation, a failed one in another."""
    sf.write(str(tmp_path / "dog.wav"), np.zeros(16000 * 3, np.float32), 16000)
    sf.write(str(tmp_path / "rain.wav"), np.zeros(16000 * 2, np.float32), 16000)
    with History(tmp_path / "data") as h:
        dog = h.new_conversation(h.add_clip(tmp_path / "dog.wav", "hdog", 3.0), "the dog")
        m = h.ask(dog, "What animal is it?", "woof woof", (0.0, 3.0), "demo", "cpu", "fp32", SETTINGS)
        h.finish(m, "A dog barking.\nTwice.", "complete", STATS)
        heard_nothing = {**SETTINGS, "mode": "transcript"}
        m = h.ask(dog, "Is it happy?", "woof woof", (0.0, 3.0), "demo", "cpu", "fp32", heard_nothing)
        h.finish(m, "Probably", "stopped", STATS)
        rain = h.new_conversation(h.add_clip(tmp_path / "rain.wav", "hrain", 2.0))
        m = h.ask(rain, "Where is this?", None, None, "ltu-as-13b", "cuda", "nf4", SETTINGS)
        h.finish(m, "", "failed", None, "CUDA out of memory")
        yield h, dog, rain


def test_json_export_round_trip(filled, tmp_path):
    h, dog, rain = filled
    assert export(h, tmp_path / "all.json") == 3
    rows = json.loads((tmp_path / "all.json").read_text())
    assert isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
    assert [(r["instruction"], r["pred"], r["status"]) for r in rows] == [
        ("What animal is it?", "A dog barking.\nTwice.", "complete"), ("Is it happy?", "Probably", "stopped"),
        ("Where is this?", "", "failed")]
    first = rows[0]
    assert first["audio_id"] == str((tmp_path / "dog.wav").resolve()) and first["input"] == "woof woof"
    assert (first["model"], first["settings"], first["window_s"], first["token_count"]) == (
        "demo", SETTINGS, [0.0, 3.0], 12)
    assert first["stats"] == STATS and first["conversation_id"] == dog and first["clip"]["content_hash"] == "hdog"
    assert "input" not in rows[2] and rows[2]["error"] == "CUDA out of memory"
    assert all("output" not in r for r in rows)
    export(h, tmp_path / "dog.txt", "json", [dog])
    assert [r["conversation_id"] for r in json.loads((tmp_path / "dog.txt").read_text())] == [dog, dog]
    with pytest.raises(KeyError):
        export(h, tmp_path / "none.json", conversation_ids=[999])


def test_json_export_is_a_batch_input(filled, tmp_path):
    from ltu_desktop.batch.runner import run_batch

    h, dog, _ = filled
    export(h, tmp_path / "items.json", conversation_ids=[dog])

    class Engine:  # stands in for the model: answers with the question and the transcript it was given
        window_seconds = 10.0

        def prepare(self, audio, window, transcript=None):
            return transcript

        def answer(self, clip, question, transcript=None, settings=None):
            stats = SimpleNamespace(to_dict=lambda: {})
            self.last_answer = SimpleNamespace(text=f"{question} / {clip.text}", token_ids=[1], stats=stats,
                                               transcript_used=transcript)
            yield self.last_answer.text

    assert run_batch(Engine(), tmp_path / "items.json", tmp_path / "out.json", None, quiet=True) == 0
    out = json.loads((tmp_path / "out.json").read_text())
    assert [r["pred"] for r in out] == ["What animal is it? / woof woof", "Is it happy? / woof woof"]


def test_markdown_export_reads_well(filled, tmp_path):
    h, dog, rain = filled
    export(h, tmp_path / "all.md")
    text = (tmp_path / "all.md").read_text()
    for part in ("## dog.wav — conversation", ": the dog", "> A dog barking.\n> Twice.", "**Answer** (stopped)",
                 "- Model: demo · cpu · fp32", "temperature 0.1", "first token 0.42 s, 10.5 tokens/s, 12 tokens",
                 "- Window: 0.0–3.0 s", "- Audio: not heard (answered from the transcript only)", "> woof woof",
                 "## rain.wav", "**Answer** (failed)",
                 "- Error: CUDA out of memory", "- Model: ltu-as-13b · cuda · nf4"):
        assert part in text, part
    (tmp_path / "rain.wav").unlink()
    assert "file no longer there" in to_markdown([h.conversation(rain)])


def test_an_export_follows_the_umask(filled, tmp_path):
    h, _, _ = filled
    old = os.umask(0o022)
    try:
        export(h, tmp_path / "out.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o644


def _compared(h: History, conversation: int, group: str) -> list[int]:
    ids = []
    for model, answer, first, speed, tokens in (("LTU (ltu_ori_paper.bin)", "A dog barks | twice.\nThen rain.", 0.5,
                                                  20.0, 9),
                                                 ("LTU-AS (ltuas_long_noqa_a6.bin)", "A man speaks.", 0.8, 15.0, 4)):
        m = h.ask(conversation, "What do you hear?", "hello there", (0.0, 10.0), model, "cpu", "fp32",
                  {"temperature": 0.0, "compare": "shared base"}, compare_group=group)
        h.finish(m, answer, "complete", {"first_token_s": first, "tokens_per_s": speed, "new_tokens": tokens,
                                         "decode_s": 1.5, "device": "cpu", "precision": "fp32"})
        ids.append(m)
    return ids


def test_a_comparison_is_saved_together_and_exported_side_by_side(tmp_path):
    with History(tmp_path) as h:
        conversation = h.new_conversation(h.add_clip(tmp_path / "a.wav", "hash", 12.0))
        single = h.ask(conversation, "Is it loud?", "", (0.0, 10.0), "LTU", "cpu", "fp32", {})
        h.finish(single, "Yes.", "complete", {"first_token_s": 0.1, "new_tokens": 2})
        _compared(h, conversation, "g1")
    with History(tmp_path) as h:  # after a restart
        messages = h.conversation(conversation).messages
        assert [m.compare_group for m in messages] == [None, "g1", "g1"]
        export(h, tmp_path / "out.md")
        export(h, tmp_path / "out.json")
    md = (tmp_path / "out.md").read_text()
    assert "### 1. Is it loud?" in md and "### 2. What do you hear? (asked 2 models)" in md
    assert "| | **LTU (ltu_ori_paper.bin)** | **LTU-AS (ltuas_long_noqa_a6.bin)** |" in md
    assert "| Answer | A dog barks \\| twice.<br>Then rain. | A man speaks. |" in md
    assert "| First token | 0.50 s | 0.80 s |" in md and "| Speed | 20.0 tokens/s | 15.0 tokens/s |" in md
    assert "| Whole answer | 2.00 s, 9 tokens | 2.30 s, 4 tokens |" in md and "- Memory: one base LLM shared" in md
    rows = json.loads((tmp_path / "out.json").read_text())
    assert [(r["model"], r["compare_group"]) for r in rows] == [
        ("LTU", None), ("LTU (ltu_ori_paper.bin)", "g1"), ("LTU-AS (ltuas_long_noqa_a6.bin)", "g1")]


def test_corrections_and_training_marks_are_exported_beside_the_models_answers(tmp_path):
    with History(tmp_path) as h:
        conversation = h.new_conversation(h.add_clip(tmp_path / "a.wav", "hash", 12.0))
        single = h.ask(conversation, "Is it loud?", "", (0.0, 10.0), "LTU", "cpu", "fp32", {})
        h.finish(single, "Yes.", "complete", {})
        h.mark_for_training(single, True, "No, it is quiet.")
        first, second = _compared(h, conversation, "g1")
        h.mark_for_training(second, True, "A woman speaks | softly.")
        h.mark_for_training(first, False)
        assert h.message(second).answer == "A man speaks." and h.message(second).correction.startswith("A woman")
        export(h, tmp_path / "out.md")
        export(h, tmp_path / "out.json")
    md = (tmp_path / "out.md").read_text()
    assert "**Answer**\n\n> Yes.\n\n**Your correction** (used for training)\n\n> No, it is quiet." in md
    assert "| Your correction | – | A woman speaks \\| softly. |" in md and "| Used for training | – | yes |" in md
    rows = json.loads((tmp_path / "out.json").read_text())
    assert [(r["pred"], r["correction"], r["for_training"]) for r in rows] == [
        ("Yes.", "No, it is quiet.", True), ("A dog barks | twice.\nThen rain.", None, False),
        ("A man speaks.", "A woman speaks | softly.", True)]


def _main(argv: list[str]) -> int:
    from ltu_desktop.cli import main

    return main(argv)


def test_history_command(filled, tmp_path, monkeypatch, capsys):
    h, dog, rain = filled
    monkeypatch.setenv("LTU_DESKTOP_DATA", str(h.folder))
    assert _main(["history", "list"]) == 0
    out = capsys.readouterr().out
    assert "dog.wav" in out and f"conversation {dog}  2 message(s)" in out and "the dog" in out
    assert _main(["history", "show", str(rain)]) == 0
    assert "Where is this?" in capsys.readouterr().out
    assert _main(["history", "export", "--conversation", str(dog), str(rain), "-o", str(tmp_path / "x.json")]) == 0
    assert len(json.loads((tmp_path / "x.json").read_text())) == 3
    assert "3 message(s) written" in capsys.readouterr().err
    assert _main(["history", "export", "--all", "--format", "md", "-o", str(tmp_path / "x.out")]) == 0
    assert (tmp_path / "x.out").read_text().startswith("# ltu-desktop conversations")
    assert _main(["history", "show", "999"]) == 1
    assert "no conversation 999" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _main(["history", "export", "-o", str(tmp_path / "y.json")])  # neither --conversation nor --all


def test_history_command_parser_stands_alone(tmp_path, monkeypatch, capsys):
    """The hook the main CLI calls, on a bare parser; an empty history says so."""
    import argparse

    from ltu_desktop.cli.history import add_parser as add_history_parser

    parser = argparse.ArgumentParser()
    add_history_parser(parser.add_subparsers(dest="command"))
    monkeypatch.setenv("LTU_DESKTOP_DATA", str(tmp_path / "empty"))
    args = parser.parse_args(["history", "list"])
    assert args.func(args) == 0 and "No history yet" in capsys.readouterr().out
    assert Path(tmp_path / "empty" / "history.sqlite3").exists()
