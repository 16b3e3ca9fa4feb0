"""The history of clips and conversations: what is saved, on top of the SQLite file that `database` keeps sound.

Questions are saved when asked and answers while they stream, so a crash or a kill -9 loses at most the last
fraction of a second (a second for answers over 16 KB). Only the standard library (and `platformdirs` via
`paths`) is imported: the Qt GUI uses this.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .database import Database, HistoryError
from .records import (
    FINAL_STATUSES,
    ClipRecord,
    Conversation,
    ConversationSummary,
    MessageRecord,
    Status,
    TrainingItem,
    TrainingMark,
    TranscriptEdit,
)

PARTIAL_PAGE = 4096  # an answer rewritten on every update costs a page per 4 KB of it ...
PARTIAL_SPACING_S = 0.25  # ... so a long one is saved at most every 0.25 s per 4 KB, at most once a second


class History(Database):
    """The history store: clips, their transcripts, conversations and messages, and the answers marked for
    training. One instance serves every thread of the process."""

    def __init__(self, folder: str | os.PathLike | None = None, *, timeout: float = 5.0) -> None:
        self._partial: dict[int, tuple[float, str | None]] = {}  # message id -> (last write, text not yet written)
        super().__init__(folder, timeout=timeout)
        self.recordings_dir = self.folder / "recordings"

    def close(self) -> None:
        """Writes the answers' last words that the spacing held back, then closes the file."""
        with self._lock:
            if self._conn is not None and not self.read_only:
                self._flush_partials()
            super().close()

    # ---- clips ---------------------------------------------------------------------------------------------

    def new_recording_path(self, suffix: str = ".wav") -> Path:
        """A fresh file name under `recordings/` for the recorder to write; pass it to add_clip(recording=True)."""
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        return self.recordings_dir / f"recording-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}{suffix}"

    def add_clip(self, path: str | os.PathLike, content_hash: str, duration: float, *,
                 recording: bool = False) -> int:
        """The clip's id; a clip with the same content is reused (its path follows the file if it moved).
        With `recording=True` the store owns the file: it is moved under `recordings/` and deleted with the clip."""
        src = Path(path).resolve()
        existing = self.find_clip(content_hash)
        if existing is not None:
            if not recording and existing.recording_path is None and str(src) != existing.path:
                self._run("UPDATE clips SET path = ? WHERE id = ?", (str(src), existing.id))
            return existing.id
        owned: str | None = None
        if recording:
            self.recordings_dir.mkdir(parents=True, exist_ok=True)
            target = src if src.parent == self.recordings_dir.resolve() else self.recordings_dir / src.name
            if target != src:
                if target.exists():
                    target = self.recordings_dir / f"{target.stem}-{uuid.uuid4().hex[:6]}{target.suffix}"
                shutil.move(src, target)
            src = target.resolve()
            owned = str(src)
        with self._write() as c:
            return c.execute("INSERT INTO clips (path, content_hash, duration, added_at, recording_path) "
                             "VALUES (?, ?, ?, ?, ?)", (str(src), content_hash, float(duration), time.time(),
                                                        owned)).lastrowid

    def _clip(self, row: sqlite3.Row) -> ClipRecord:
        keys = row.keys()
        return ClipRecord(row["id"], row["path"], row["content_hash"], row["duration"], row["added_at"],
                          row["recording_path"], row["n"] if "n" in keys else 0, Path(row["path"]).is_file())

    _CLIPS = ("SELECT c.*, (SELECT COUNT(*) FROM conversations v WHERE v.clip_id = c.id) AS n FROM clips c ")

    def find_clip(self, content_hash: str) -> ClipRecord | None:
        rows = self._rows(self._CLIPS + "WHERE c.content_hash = ?", (content_hash,))
        return self._clip(rows[0]) if rows else None

    def clip(self, clip_id: int) -> ClipRecord:
        rows = self._rows(self._CLIPS + "WHERE c.id = ?", (clip_id,))
        if not rows:
            raise KeyError(f"no clip {clip_id}")
        return self._clip(rows[0])

    def list_clips(self) -> list[ClipRecord]:
        """Newest first, with conversation counts and whether the audio file is still there."""
        return [self._clip(r) for r in self._rows(self._CLIPS + "ORDER BY c.added_at DESC, c.id DESC")]

    def delete_clip(self, clip_id: int) -> None:
        """The clip, its conversations and transcript edits, and its recording file if the store owns one."""
        clip = self.clip(clip_id)
        with self._write() as c:
            c.execute("DELETE FROM clips WHERE id = ?", (clip_id,))
            c.execute("DELETE FROM transcripts WHERE content_hash = ?", (clip.content_hash,))
        if clip.recording_path:
            owned = Path(clip.recording_path)
            if owned.resolve().parent == self.recordings_dir.resolve():  # never delete a file the store does not own
                owned.unlink(missing_ok=True)

    # ---- transcripts -------------------------------------------------------------------------------------

    def save_transcript(self, content_hash: str, asr_model: str, data: Mapping[str, Any]) -> None:
        """The ASR result for this audio and ASR model (plain data: text, segments, language), replacing any."""
        self._run("INSERT OR REPLACE INTO transcripts (content_hash, asr_model, data_json, created_at) "
                  "VALUES (?, ?, ?, ?)", (content_hash, asr_model, json.dumps(dict(data)), time.time()))

    def transcripts(self, content_hash: str) -> dict[str, dict]:
        """The stored ASR results of this audio, by ASR model."""
        return {r["asr_model"]: json.loads(r["data_json"]) for r in
                self._rows("SELECT asr_model, data_json FROM transcripts WHERE content_hash = ?", (content_hash,))}

    # ---- transcript edits ----------------------------------------------------------------------------------

    def edit_transcript(self, clip_id: int, text: str) -> int:
        with self._write() as c:
            return c.execute("INSERT INTO transcript_edits (clip_id, text, created_at) VALUES (?, ?, ?)",
                             (clip_id, text, time.time())).lastrowid

    def transcript_edits(self, clip_id: int) -> list[TranscriptEdit]:
        return [TranscriptEdit(r["id"], r["clip_id"], r["text"], r["created_at"]) for r in
                self._rows("SELECT * FROM transcript_edits WHERE clip_id = ? ORDER BY id", (clip_id,))]

    def edited_transcript(self, clip_id: int) -> str | None:
        """The newest edit of the clip's transcript, or None when it was never edited."""
        rows = self._rows("SELECT text FROM transcript_edits WHERE clip_id = ? ORDER BY id DESC LIMIT 1", (clip_id,))
        return rows[0]["text"] if rows else None

    # ---- conversations -------------------------------------------------------------------------------------

    def new_conversation(self, clip_id: int, title: str = "") -> int:
        with self._write() as c:
            return c.execute("INSERT INTO conversations (clip_id, title, created_at) VALUES (?, ?, ?)",
                             (clip_id, title, time.time())).lastrowid

    def conversation(self, conversation_id: int) -> Conversation:
        found = self._conversations("WHERE v.id = ?", (conversation_id,))
        if not found:
            raise KeyError(f"no conversation {conversation_id}")
        return found[0]

    def conversations(self, clip_id: int | None = None,
                      ids: Sequence[int] | None = None) -> list[Conversation]:
        """With their messages, oldest first: of one clip, of the given ids, or all."""
        if ids is not None:
            ids = list(ids)
            found = {v.id: v for v in self._conversations(
                f"WHERE v.id IN ({','.join('?' * len(ids))})", ids)} if ids else {}
            missing = [i for i in ids if i not in found]
            if missing:
                raise KeyError(f"no conversation {', '.join(map(str, missing))}")
            return [found[i] for i in ids]
        if clip_id is not None:
            return self._conversations("WHERE v.clip_id = ?", (clip_id,))
        return self._conversations("", ())

    def _conversations(self, where: str, params: Sequence[Any]) -> list[Conversation]:
        with self._lock:
            rows = self._rows(f"SELECT * FROM conversations v {where} ORDER BY v.created_at, v.id", params)
            if not rows:
                return []
            ids = [r["id"] for r in rows]
            marks = ",".join("?" * len(ids))
            messages: dict[int, list[MessageRecord]] = {i: [] for i in ids}
            for m in self._rows(f"{_MESSAGES} WHERE m.conversation_id IN ({marks}) ORDER BY m.id", ids):
                messages[m["conversation_id"]].append(_message(m))
            clip_ids = sorted({r["clip_id"] for r in rows})
            clips = {r["id"]: self._clip(r) for r in self._rows(
                self._CLIPS + f"WHERE c.id IN ({','.join('?' * len(clip_ids))})", clip_ids)}
        return [Conversation(r["id"], r["clip_id"], r["title"], r["created_at"], clips[r["clip_id"]],
                             messages[r["id"]]) for r in rows]

    def summaries(self, clip_id: int | None = None) -> list[ConversationSummary]:
        """Newest first, without loading the messages (a list of many conversations stays quick)."""
        where, params = ("WHERE v.clip_id = ?", (clip_id,)) if clip_id is not None else ("", ())
        rows = self._rows(
            "SELECT v.id, v.clip_id, v.title, v.created_at, COUNT(m.id) AS n,"
            " (SELECT question FROM messages f WHERE f.conversation_id = v.id ORDER BY f.id LIMIT 1) AS q,"
            f" COALESCE(MAX(m.updated_at), v.created_at) AS u FROM conversations v LEFT JOIN messages m"
            f" ON m.conversation_id = v.id {where} GROUP BY v.id ORDER BY v.created_at DESC, v.id DESC", params)
        return [ConversationSummary(r["id"], r["clip_id"], r["title"], r["created_at"], r["n"], r["q"] or "", r["u"])
                for r in rows]

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        self._run("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))

    def delete_conversation(self, conversation_id: int) -> None:
        with self._write() as c:
            c.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # ---- messages, as they happen --------------------------------------------------------------------------

    def ask(self, conversation_id: int, question: str, transcript_used: str | None,
            window: tuple[float, float] | None, profile: str | None, device: str | None, precision: str | None,
            settings: Mapping[str, Any] | None, *, compare_group: str | None = None) -> int:
        """Saves the question at once, status "streaming"; the answer follows with update_partial and finish.
        Each model of a comparison gets its own message; `compare_group` ties them together."""
        start, end = (float(window[0]), float(window[1])) if window else (None, None)
        now = time.time()
        with self._write() as c:
            return c.execute(
                "INSERT INTO messages (conversation_id, question, status, transcript_used, window_start, window_end,"
                " profile, device, precision, settings_json, session, created_at, updated_at, compare_group)"
                " VALUES (?, ?, 'streaming', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, question, transcript_used, start, end, profile, device, precision,
                 json.dumps(dict(settings or {}), default=str), self.session, now, now, compare_group)).lastrowid

    def update_partial(self, message_id: int, text: str) -> None:
        """The answer so far; one UPDATE in its own commit (WAL, synchronous=NORMAL: no fsync).

        SQLite rewrites the whole row, so a long answer is written at most every PARTIAL_SPACING_S per 4 KB of
        it (and at most a second apart): the bytes written per second stay bounded however long the answer
        grows, and a kill loses at most that last stretch. A short answer is written on every update."""
        now = time.monotonic()
        with self._lock:
            last, _ = self._partial.get(message_id, (0.0, None))
            if now - last < min(1.0, PARTIAL_SPACING_S * (len(text) // PARTIAL_PAGE)):
                self._partial[message_id] = (last, text)
                return
            self._partial[message_id] = (now, None)
            self._run("UPDATE messages SET answer = ?, updated_at = ? WHERE id = ? AND status = 'streaming'",
                      (text, time.time(), message_id))

    def _flush_partials(self) -> None:
        """Write the updates the spacing held back (on close: the answers' last words)."""
        for message_id, (_, text) in list(self._partial.items()):
            if text is not None:
                try:
                    self._run("UPDATE messages SET answer = ?, updated_at = ? WHERE id = ? AND status = 'streaming'",
                              (text, time.time(), message_id))
                except HistoryError:
                    pass
        self._partial.clear()

    def finish(self, message_id: int, text: str, status: Status = "complete", stats: Mapping[str, Any] | None = None,
               error: str | None = None, *, transcript_used: str | None = None, profile: str | None = None,
               settings: Mapping[str, Any] | None = None) -> None:
        """The final answer. `stats` is Stats.to_dict(); its device/precision (what actually ran) win over ask's.
        The keyword arguments, when given, replace what ask guessed: the GUI learns them only when the answer ends
        (the ASR text of a clip still being transcribed, the model that was loaded, the settings in effect)."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"finish status must be one of {', '.join(FINAL_STATUSES)}, not {status!r}")
        s = dict(stats or {})
        tokens = s.get("token_count", s.get("new_tokens"))
        with self._lock:
            self._partial.pop(message_id, None)
        self._run(
            "UPDATE messages SET answer = ?, status = ?, error = ?, stats_json = ?, first_token_s = ?,"
            " tokens_per_s = ?, token_count = ?, device = COALESCE(?, device), precision = COALESCE(?, precision),"
            " transcript_used = COALESCE(?, transcript_used), profile = COALESCE(?, profile),"
            " settings_json = COALESCE(?, settings_json), updated_at = ? WHERE id = ?",
            (text, status, error, json.dumps(s, default=str) if stats is not None else None, s.get("first_token_s"),
             s.get("tokens_per_s"), tokens, s.get("device") or None, s.get("precision") or None, transcript_used,
             profile or None, json.dumps(dict(settings), default=str) if settings is not None else None, time.time(),
             message_id))

    def message(self, message_id: int) -> MessageRecord:
        rows = self._rows(f"{_MESSAGES} WHERE m.id = ?", (message_id,))
        if not rows:
            raise KeyError(f"no message {message_id}")
        return _message(rows[0])

    # ---- answers marked for training ---------------------------------------------------------------------

    def mark_for_training(self, message_id: int, use: bool = True, correction: str | None = None) -> None:
        """Sets the answer's whole mark: used for fine-tuning or not, and the correction that replaces its text as
        the target (one that is empty or equal to the answer is none; unmarking with it keeps it for later). The
        answer itself is never changed."""
        answer = self.message(message_id).answer
        if correction is not None:
            correction = correction.strip()
            if not correction or correction == answer.strip():
                correction = None
        self._run("INSERT OR REPLACE INTO training_marks (message_id, correction, for_training, updated_at)"
                  " VALUES (?, ?, ?, ?)", (message_id, correction, int(use), time.time()))

    def training_marks(self, message_ids: Sequence[int] | None = None) -> dict[int, TrainingMark]:
        """The marks of these messages (all when None), by message id; a message never marked has none."""
        where, params = "", ()
        if message_ids is not None:
            ids = list(message_ids)
            if not ids:
                return {}
            where, params = f" WHERE message_id IN ({','.join('?' * len(ids))})", ids
        rows = self._rows("SELECT * FROM training_marks" + where, params)
        return {r["message_id"]: TrainingMark(r["message_id"], r["correction"], bool(r["for_training"]),
                                              r["updated_at"]) for r in rows}

    def training_items(self) -> list[TrainingItem]:
        """Every answer marked for training, oldest first, with its clip's file as it is now."""
        rows = self._rows(
            "SELECT m.id, m.conversation_id, m.question, m.transcript_used, m.answer, m.window_start, m.window_end,"
            " t.correction, c.path FROM training_marks t JOIN messages m ON m.id = t.message_id"
            " JOIN conversations v ON v.id = m.conversation_id JOIN clips c ON c.id = v.clip_id"
            " WHERE t.for_training ORDER BY m.id")
        return [TrainingItem(r["id"], r["conversation_id"], r["path"], Path(r["path"]).is_file(), r["question"],
                             r["transcript_used"], r["answer"], r["correction"],
                             None if r["window_start"] is None else (r["window_start"], r["window_end"]))
                for r in rows]


_MESSAGES = ("SELECT m.*, t.correction AS correction, t.for_training AS for_training FROM messages m"
             " LEFT JOIN training_marks t ON t.message_id = m.id")


def _message(r: sqlite3.Row) -> MessageRecord:
    return MessageRecord(
        r["id"], r["conversation_id"], r["question"], r["answer"], r["status"], r["error"], r["transcript_used"],
        r["window_start"], r["window_end"], r["profile"], r["device"], r["precision"],
        json.loads(r["settings_json"] or "{}"), json.loads(r["stats_json"] or "{}"), r["first_token_s"],
        r["tokens_per_s"], r["token_count"], r["created_at"], r["updated_at"], r["compare_group"], r["correction"],
        bool(r["for_training"]))
