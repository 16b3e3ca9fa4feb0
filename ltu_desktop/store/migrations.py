"""The history's schema, built up one version at a time (PRAGMA user_version).

Each step upgrades the schema by one version inside the transaction `migrate` opens. Never edit a released step:
add one, so every file ever written reaches the same schema.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

log = logging.getLogger(__name__)


def _clips_conversations_messages(conn: sqlite3.Connection) -> None:
    """1: clips, their conversations and the messages of each (the first release)."""
    for statement in (
        """CREATE TABLE clips (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            duration REAL NOT NULL,
            added_at REAL NOT NULL,
            recording_path TEXT)""",
        "CREATE UNIQUE INDEX clips_hash ON clips(content_hash)",
        """CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            clip_id INTEGER NOT NULL REFERENCES clips(id) ON DELETE CASCADE,
            title TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL)""",
        "CREATE INDEX conversations_clip ON conversations(clip_id)",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            question TEXT NOT NULL,
            answer TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            error TEXT,
            transcript_used TEXT,
            window_start REAL,
            window_end REAL,
            profile TEXT,
            device TEXT,
            precision TEXT,
            settings_json TEXT NOT NULL DEFAULT '{}',
            stats_json TEXT,
            first_token_s REAL,
            tokens_per_s REAL,
            token_count INTEGER,
            session TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL)""",
        "CREATE INDEX messages_conversation ON messages(conversation_id, id)",
        "CREATE INDEX messages_streaming ON messages(session) WHERE status = 'streaming'",
    ):
        conn.execute(statement)


def _transcript_edits(conn: sqlite3.Connection) -> None:
    """2: the person's edits of a clip's transcript, newest last, so a correction outlives the session."""
    for statement in (
        """CREATE TABLE transcript_edits (
            id INTEGER PRIMARY KEY,
            clip_id INTEGER NOT NULL REFERENCES clips(id) ON DELETE CASCADE,
            text TEXT NOT NULL,
            created_at REAL NOT NULL)""",
        "CREATE INDEX transcript_edits_clip ON transcript_edits(clip_id, id)",
    ):
        conn.execute(statement)


def _transcripts(conn: sqlite3.Connection) -> None:
    """3: ASR transcripts by the audio's content hash and the ASR model, so a restart does not redo them."""
    conn.execute(
        """CREATE TABLE transcripts (
            content_hash TEXT NOT NULL,
            asr_model TEXT NOT NULL,
            data_json TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (content_hash, asr_model))""")


def _training_marks(conn: sqlite3.Connection) -> None:
    """4: answers marked "use for training", the correction kept beside the answer so the original stays."""
    conn.execute(
        """CREATE TABLE training_marks (
            message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            correction TEXT,
            for_training INTEGER NOT NULL,
            updated_at REAL NOT NULL)""")


def _compare_group(conn: sqlite3.Connection) -> None:
    """5: the answers of one "Ask both" (several models, one question) share a group, so they stay side by side."""
    conn.execute("ALTER TABLE messages ADD COLUMN compare_group TEXT")


# MIGRATIONS[v] upgrades a version-v file to version v + 1.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _clips_conversations_messages, _transcript_edits, _transcripts, _training_marks, _compare_group)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection) -> None:
    """Brings an autocommit connection's file to SCHEMA_VERSION, one transaction per version; the version is
    re-read under the write lock so two processes starting together do not both apply the same step."""
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(conn)
            if version >= SCHEMA_VERSION:
                conn.execute("COMMIT")
                return
            MIGRATIONS[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
            log.info("history schema upgraded to version %d", version + 1)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
