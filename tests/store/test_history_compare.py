"""Answers of one "Ask both" are saved as one message per model tied by a group, and exported side by side."""

from __future__ import annotations

import json
import sqlite3

from ltu_desktop.store.export import export
from ltu_desktop.store.history import MIGRATIONS, SCHEMA_VERSION, History


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


def test_a_version_3_history_gains_comparisons(tmp_path):
    db = sqlite3.connect(tmp_path / "history.sqlite3")
    for statement in (s for version in MIGRATIONS[:3] for s in version):
        db.execute(statement)
    db.executescript("""INSERT INTO clips VALUES (1, '/audio/old.wav', 'oldhash', 7.0, 1700000000, NULL);
        INSERT INTO conversations VALUES (1, 1, '', 1700000001);
        INSERT INTO messages (id, conversation_id, question, answer, status, created_at, updated_at)
            VALUES (1, 1, 'What?', 'A dog.', 'complete', 1700000002, 1700000003);
        PRAGMA user_version = 3;""")
    db.close()
    with History(tmp_path) as h:
        assert h._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert h.message(1).compare_group is None
        _compared(h, 1, "g2")
        assert [m.compare_group for m in h.conversation(1).messages] == [None, "g2", "g2"]
