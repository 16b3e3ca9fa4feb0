"""Older history files upgrade in place, one schema version at a time, and keep everything they held."""

from __future__ import annotations

import sqlite3

from ltu_desktop.store.history import History
from ltu_desktop.store.migrations import MIGRATIONS, SCHEMA_VERSION


V1_SCHEMA = """
CREATE TABLE clips (id INTEGER PRIMARY KEY, path TEXT NOT NULL, content_hash TEXT NOT NULL, duration REAL NOT NULL,
    added_at REAL NOT NULL, recording_path TEXT);
CREATE UNIQUE INDEX clips_hash ON clips(content_hash);
CREATE TABLE conversations (id INTEGER PRIMARY KEY, clip_id INTEGER NOT NULL REFERENCES clips(id) ON DELETE CASCADE,
    title TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL);
CREATE INDEX conversations_clip ON conversations(clip_id);
CREATE TABLE messages (id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE, question TEXT NOT NULL,
    answer TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, error TEXT, transcript_used TEXT, window_start REAL,
    window_end REAL, profile TEXT, device TEXT, precision TEXT, settings_json TEXT NOT NULL DEFAULT '{}',
    stats_json TEXT, first_token_s REAL, tokens_per_s REAL, token_count INTEGER, session TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX messages_conversation ON messages(conversation_id, id);
CREATE INDEX messages_streaming ON messages(session) WHERE status = 'streaming';
INSERT INTO clips VALUES (1, '/audio/old.wav', 'oldhash', 7.0, 1700000000, NULL);
INSERT INTO conversations VALUES (1, 1, 'old chat', 1700000001);
INSERT INTO messages (id, conversation_id, question, answer, status, settings_json, created_at, updated_at)
    VALUES (1, 1, 'What?', 'A dog.', 'complete', '{"temperature": 0.1}', 1700000002, 1700000003);
INSERT INTO messages (id, conversation_id, question, answer, status, session, created_at, updated_at)
    VALUES (2, 1, 'And?', 'It bar', 'streaming', 'gone', 1700000004, 1700000005);
PRAGMA user_version = 1;
"""


def test_upgrade_from_version_1(tmp_path):
    """A v1 file as the first release wrote it (frozen here, not built from MIGRATIONS) upgrades in place."""
    db = sqlite3.connect(tmp_path / "history.sqlite3")
    db.executescript(V1_SCHEMA)
    db.close()
    with History(tmp_path) as h:
        assert h._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
        conv = h.conversation(1)
        assert (conv.title, conv.clip.path, conv.clip.file_exists) == ("old chat", "/audio/old.wav", False)
        assert [(m.answer, m.status) for m in conv.messages] == [("A dog.", "complete"), ("It bar", "interrupted")]
        assert [m.compare_group for m in conv.messages] == [None, None]  # old answers stand alone
        assert conv.messages[0].settings == {"temperature": 0.1}
        h.edit_transcript(1, "woof")
        assert h.edited_transcript(1) == "woof"
        h.mark_for_training(1, correction="A dog barks.")
    with History(tmp_path) as h:  # a second open finds nothing to do
        assert h.edited_transcript(1) == "woof"
        assert h.training_marks()[1].correction == "A dog barks." and h.message(1).answer == "A dog."


def test_a_version_3_history_gains_comparisons(tmp_path):
    db = sqlite3.connect(tmp_path / "history.sqlite3")
    for migration in MIGRATIONS[:3]:
        migration(db)
    db.executescript("""INSERT INTO clips VALUES (1, '/audio/old.wav', 'oldhash', 7.0, 1700000000, NULL);
        INSERT INTO conversations VALUES (1, 1, '', 1700000001);
        INSERT INTO messages (id, conversation_id, question, answer, status, created_at, updated_at)
            VALUES (1, 1, 'What?', 'A dog.', 'complete', 1700000002, 1700000003);
        PRAGMA user_version = 3;""")
    db.close()
    with History(tmp_path) as h:
        assert h._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert h.message(1).compare_group is None
        for model in ("LTU", "LTU-AS"):  # an "Ask both" in the upgraded file
            mid = h.ask(1, "What do you hear?", "", (0.0, 7.0), model, "cpu", "fp32", {}, compare_group="g2")
            h.finish(mid, "A dog.")
        assert [m.compare_group for m in h.conversation(1).messages] == [None, "g2", "g2"]
