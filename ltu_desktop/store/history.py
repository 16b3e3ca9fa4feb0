"""The history of clips and conversations in SQLite.

Questions are saved when asked and answers while they stream, so a crash or a kill -9 loses at most the last
fraction of a second (a second for answers over 16 KB). Only the standard library (and `platformdirs` via
`paths`) is imported: the Qt GUI uses this.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

DB_NAME = "history.sqlite3"
Status = Literal["complete", "stopped", "failed", "interrupted", "streaming"]
STATUSES: tuple[str, ...] = ("complete", "stopped", "failed", "interrupted", "streaming")
FINAL_STATUSES = STATUSES[:4]
STALE_LOCK_S = 60.0  # a lock file younger than this may belong to a process that has not locked it yet
PARTIAL_PAGE = 4096  # an answer rewritten on every update costs a page per 4 KB of it ...
PARTIAL_SPACING_S = 0.25  # ... so a long one is saved at most every 0.25 s per 4 KB, at most once a second
DISMISSED = "dismissed-notices.txt"  # names of damaged histories kept aside that the person was told about

# Each entry upgrades the schema by one version (PRAGMA user_version). Never edit a released entry: add one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: clips, their conversations and the messages of each
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
    ),
    (  # 2: the person's edits of a clip's transcript, newest last
        """CREATE TABLE transcript_edits (
            id INTEGER PRIMARY KEY,
            clip_id INTEGER NOT NULL REFERENCES clips(id) ON DELETE CASCADE,
            text TEXT NOT NULL,
            created_at REAL NOT NULL)""",
        "CREATE INDEX transcript_edits_clip ON transcript_edits(clip_id, id)",
    ),
    (  # 3: ASR transcripts by the audio's content hash and the ASR model, so a restart does not redo them
        """CREATE TABLE transcripts (
            content_hash TEXT NOT NULL,
            asr_model TEXT NOT NULL,
            data_json TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (content_hash, asr_model))""",
    ),
    (  # 4: answers the person marked "use for training", with their correction beside the original answer
        """CREATE TABLE training_marks (
            message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            correction TEXT,
            for_training INTEGER NOT NULL,
            updated_at REAL NOT NULL)""",
    ),
    (  # 5: the answers of one "Ask both" (several models, one question) share a group, so they stay side by side
        "ALTER TABLE messages ADD COLUMN compare_group TEXT",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


class HistoryError(RuntimeError):
    """A history problem, worded for a person. `reason`: newer | locked | corrupt | full | readonly | io | other."""

    def __init__(self, message: str, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ClipRecord:
    id: int
    path: str
    content_hash: str
    duration: float
    added_at: float
    recording_path: str | None = None
    conversation_count: int = 0
    file_exists: bool = True

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def is_recording(self) -> bool:
        return self.recording_path is not None


@dataclass(frozen=True)
class MessageRecord:
    id: int
    conversation_id: int
    question: str
    answer: str
    status: str
    error: str | None
    transcript_used: str | None
    window_start: float | None
    window_end: float | None
    profile: str | None
    device: str | None
    precision: str | None
    settings: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    first_token_s: float | None = None
    tokens_per_s: float | None = None
    token_count: int | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    compare_group: str | None = None  # shared by the answers of several models to one question

    @property
    def window(self) -> tuple[float, float] | None:
        return None if self.window_start is None else (self.window_start, self.window_end or self.window_start)


@dataclass(frozen=True)
class Conversation:
    id: int
    clip_id: int
    title: str
    created_at: float
    clip: ClipRecord
    messages: list[MessageRecord] = field(default_factory=list)


@dataclass(frozen=True)
class ConversationSummary:
    """A conversation without its messages: enough to list many of them cheaply."""

    id: int
    clip_id: int
    title: str
    created_at: float
    message_count: int
    first_question: str
    updated_at: float


@dataclass(frozen=True)
class TranscriptEdit:
    id: int
    clip_id: int
    text: str
    created_at: float


@dataclass(frozen=True)
class TrainingMark:
    """The person's verdict on one answer: its correction (None: the answer as it is) and whether to train on it.
    Unmarking keeps the correction, so ticking it again does not lose the person's words."""

    message_id: int
    correction: str | None
    use: bool
    updated_at: float


@dataclass(frozen=True)
class TrainingItem:
    """A marked answer as a fine-tuning item: the clip's file, the question, what the model read, the target."""

    message_id: int
    conversation_id: int
    audio_path: str
    file_exists: bool
    question: str
    transcript_used: str | None
    answer: str
    correction: str | None
    window: tuple[float, float] | None

    @property
    def output(self) -> str:
        return self.correction if self.correction is not None else self.answer


def default_folder() -> Path:
    """`LTU_DESKTOP_DATA`, else the platform's user data folder."""
    from ..paths import data_dir

    return data_dir()


def _errname(exc: BaseException) -> str:
    return f"{getattr(exc, 'sqlite_errorname', '')} {exc}".lower()


def _is_corrupt(exc: BaseException) -> bool:
    text = _errname(exc)
    return any(k in text for k in ("sqlite_corrupt", "sqlite_notadb", "malformed", "not a database"))


class _SessionLock:
    """A file held locked while a History is open, so another process can tell whether a "streaming" message's
    writer is still alive (the OS drops the lock when a process dies, kill -9 included)."""

    def __init__(self, folder: Path, session: str) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{session}.lock"
        self.fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if not _try_lock(self.fd):
            os.close(self.fd)
            self.fd = None
            raise OSError(f"cannot lock {self.path}")

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            self.path.unlink(missing_ok=True)

    def alive(self, session: str | None) -> bool:
        if session is None:
            return False
        path = self.folder / f"{session}.lock"
        if path == self.path:
            return True
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            return False
        try:
            return not _try_lock(fd)
        finally:
            os.close(fd)

    def forget(self, session: str | None) -> None:
        """Drop a dead session's file; safe because a session locks its file before it writes any message."""
        if session is not None and session != self.path.stem:
            try:
                (self.folder / f"{session}.lock").unlink(missing_ok=True)
            except OSError:
                pass

    def others_alive(self) -> bool:
        return any(p != self.path and self.alive(p.stem) for p in self.folder.glob("*.lock"))

    def sweep(self) -> None:
        """Remove the lock files of dead processes (old enough that their owner had time to lock them)."""
        for path in self.folder.glob("*.lock"):
            try:
                if path != self.path and time.time() - path.stat().st_mtime > STALE_LOCK_S \
                        and not self.alive(path.stem):
                    path.unlink(missing_ok=True)
            except OSError:
                pass


def _try_lock(fd: int) -> bool:
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


class History:
    """The history store. One connection guarded by a lock serves every thread of the process; other processes
    (a second window, the CLI) are handled by SQLite's locking with `timeout` seconds of patience."""

    def __init__(self, folder: str | os.PathLike | None = None, *, timeout: float = 5.0) -> None:
        self.folder = Path(folder).expanduser() if folder is not None else default_folder()
        self.path = self.folder / DB_NAME
        self.recordings_dir = self.folder / "recordings"
        self.timeout = timeout
        self.session = uuid.uuid4().hex
        self.notice: str | None = None  # a damaged file kept aside, or a history that can only be read: show it
        self.moved_aside: Path | None = None
        self.read_only = False  # a full disk or a read-only folder: the history is shown, nothing new is saved
        self._lock = threading.RLock()
        self._partial: dict[int, tuple[float, str | None]] = {}  # message id -> (last write, text not yet written)
        self._session_lock: _SessionLock | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._session_lock = _SessionLock(self.folder / "locks", self.session)
        except OSError as exc:
            if not self.path.is_file():
                raise HistoryError(f"Cannot use the history folder {self.folder}: {exc}", "io") from exc
            self._conn = self._open_read_only(exc.strerror or str(exc))
            return
        try:
            self._conn = self._open()
        except HistoryError as exc:
            if exc.reason not in ("full", "readonly", "io") or not self.path.is_file():
                self._session_lock.release()
                raise
            self._conn = self._open_read_only(str(exc))
        except BaseException:
            self._session_lock.release()
            raise
        if self.notice is None:
            self.notice = self._kept_aside_notice()

    # ---- opening -------------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _open(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = None
        try:
            try:
                conn = self._connect()
                version = self._check(conn)
            except sqlite3.DatabaseError as exc:
                if not _is_corrupt(exc):
                    raise
                if conn is not None:
                    conn.close()
                self._move_aside(str(exc))
                conn = self._connect()
                version = 0
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # in WAL: durable across process crashes, cheap commits
            if version < SCHEMA_VERSION:
                self._migrate(conn)
            self._interrupt_orphans(conn)
            return conn
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise self._error(exc) from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise

    def _open_read_only(self, why: str) -> sqlite3.Connection:
        """The history as it is, for reading, when it cannot be written: a full disk or a read-only folder must
        not hide the conversations. `immutable` is the last resort when SQLite cannot even create its shared-memory
        file; nothing can write the file then either."""
        from urllib.parse import quote

        try:
            full = shutil.disk_usage(self.folder).free < (1 << 20)
        except OSError:
            full = False
        why = "the disk is full" if full else why.rstrip(".")
        failure: sqlite3.Error | None = None
        for mode in ("mode=ro", "immutable=1"):
            try:
                conn = sqlite3.connect(f"file:{quote(str(self.path))}?{mode}", uri=True, timeout=self.timeout,
                                       isolation_level=None, check_same_thread=False)
            except sqlite3.Error as exc:
                failure = exc
                continue
            try:
                conn.row_factory = sqlite3.Row
                if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                    conn.close()
                    if self._session_lock is not None:
                        self._session_lock.release()
                    raise HistoryError(f"The history {self.path} cannot be written ({why}) and needs an upgrade "
                                       "that writes to it; free some space or fix the folder's permissions.", "io")
                conn.execute("SELECT COUNT(*) FROM messages").fetchone()
            except sqlite3.Error as exc:
                conn.close()
                failure = exc
                continue
            self.read_only = True
            self.notice = (f"The history in {self.folder} can only be read ({why}): it is shown, but nothing new "
                           "is saved until there is free space and the folder can be written; restart then.")
            log.info(self.notice)
            return conn
        if self._session_lock is not None:
            self._session_lock.release()
        raise HistoryError(f"Cannot read the history {self.path}: {failure} ({why}).", "io")

    def _kept_aside_notice(self) -> str | None:
        """Damaged histories moved aside stay a visible note on every start until the person dismisses it."""
        kept = self.kept_aside()
        if not kept:
            return None
        names = ", ".join(p.name for p in kept)
        return (f"An earlier, damaged history is kept in {self.folder} as {names}. Delete it once you no longer "
                "need it; `ltu-desktop history dismiss` hides this note.")

    def kept_aside(self) -> list[Path]:
        """Damaged history files moved aside that the person has not dismissed."""
        try:
            dismissed = set((self.folder / DISMISSED).read_text(encoding="utf-8").split("\n"))
        except OSError:
            dismissed = set()
        return sorted(p for p in self.folder.glob(f"{DB_NAME}.corrupt-*")
                      if not p.name.endswith(("-wal", "-shm")) and p.name not in dismissed)

    def dismiss_notice(self) -> None:
        """The person has seen where the damaged history is kept: stop saying so (the file itself stays)."""
        kept = [p.name for p in self.kept_aside()]
        if kept:
            with open(self.folder / DISMISSED, "a", encoding="utf-8") as f:
                f.write("".join(f"{name}\n" for name in kept))
        self.notice = None

    def _check(self, conn: sqlite3.Connection) -> int:
        """Read-only checks first: a newer or damaged file must not be written to."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise HistoryError(
                f"The history in {self.path} was written by a newer ltu-desktop (schema version {version}; this "
                f"version understands up to {SCHEMA_VERSION}). It was left untouched: update ltu-desktop, or set "
                "LTU_DESKTOP_DATA to another folder.", "newer")
        problems = [r[0] for r in conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError(f"database disk image is malformed: {'; '.join(problems[:3])}")
        return version

    def _move_aside(self, detail: str) -> None:
        # moving it would pull the file from under a running instance
        if self._session_lock is not None and self._session_lock.others_alive():
            raise HistoryError(f"The history in {self.path} is damaged ({detail}). Close the other ltu-desktop "
                               "windows and commands and start again: the damaged file will be kept aside and a "
                               "new history started.", "corrupt")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{DB_NAME}.corrupt-{stamp}")
        n = 1
        while target.exists():
            target, n = self.path.with_name(f"{DB_NAME}.corrupt-{stamp}-{n}"), n + 1
        try:
            os.replace(self.path, target)
            for side in ("-wal", "-shm"):
                src = Path(f"{self.path}{side}")
                if src.exists():
                    os.replace(src, Path(f"{target}{side}"))
        except OSError as exc:
            raise HistoryError(f"The history in {self.path} is damaged ({detail}) and could not be moved aside "
                               f"({exc}); move or delete it yourself.", "corrupt") from exc
        self.moved_aside = target
        self.notice = (f"The history file {self.path} was damaged ({detail}). It was kept as {target.name} and a "
                       "new, empty history was started; `ltu-desktop history dismiss` hides this note.")
        log.info(self.notice)  # the caller shows the notice; a warning would print it a second time

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """One transaction per version; the version is re-read under the write lock so two processes starting
        together do not both apply the same step."""
        while True:
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version >= SCHEMA_VERSION:
                    conn.execute("COMMIT")
                    return
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
                conn.execute("COMMIT")
                log.info("history schema upgraded to version %d", version + 1)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _interrupt_orphans(self, conn: sqlite3.Connection) -> None:
        """Answers left "streaming" by a process that died become "interrupted", keeping their partial text."""
        sessions = [r[0] for r in conn.execute("SELECT DISTINCT session FROM messages WHERE status = 'streaming'")]
        dead = [s for s in sessions if not self._session_lock.alive(s)]
        now = time.time()
        for s in dead:
            conn.execute("UPDATE messages SET status = 'interrupted', updated_at = ? "
                         "WHERE status = 'streaming' AND session IS ?", (now, s))
            self._session_lock.forget(s)
        self._session_lock.sweep()

    # ---- plumbing ------------------------------------------------------------------------------------------

    def _error(self, exc: sqlite3.Error) -> HistoryError:
        text = _errname(exc)
        if "busy" in text or "locked" in text:
            return HistoryError(
                f"The history {self.path} is locked by another program (another ltu-desktop window or command?) "
                f"and stayed locked for {self.timeout:g} s. Close the other one and try again.", "locked")
        if "full" in text:
            return HistoryError(f"The disk holding {self.path} is full, so the history could not be saved. Free "
                                "some space and try again; nothing shown in the app is lost.", "full")
        if _is_corrupt(exc):
            return HistoryError(f"The history {self.path} is damaged ({exc}). Restart ltu-desktop: it keeps the "
                                "damaged file aside and starts a new history.", "corrupt")
        if "readonly" in text or "read-only" in text:
            return HistoryError(f"The history {self.path} is read-only; check the folder's permissions.", "readonly")
        if "unable to open" in text or "sqlite_cantopen" in text or "sqlite_ioerr" in text:
            return HistoryError(f"Cannot read or write the history {self.path}: {exc}.", "io")
        return HistoryError(f"History database error in {self.path}: {exc}.")

    def _writable(self) -> sqlite3.Connection:
        conn = self._connection()
        if self.read_only:
            raise HistoryError(f"Not saved: {self.notice}", "readonly")
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; any SQLite failure is rolled back and raised as a HistoryError."""
        with self._lock:
            conn = self._writable()
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                if isinstance(exc, sqlite3.Error):
                    raise self._error(exc) from exc
                raise

    def _run(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """One write statement in autocommit mode (its own transaction)."""
        with self._lock:
            conn = self._writable()
            try:
                return conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._connection().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise HistoryError("The history is closed.")
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute("PRAGMA optimize")
                except sqlite3.Error:
                    pass
                if not self.read_only:
                    self._flush_partials()
                self._conn.close()
                self._conn = None
            if self._session_lock is not None:
                self._session_lock.release()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
            for m in self._rows(f"SELECT * FROM messages WHERE conversation_id IN ({marks}) ORDER BY id", ids):
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
        rows = self._rows("SELECT * FROM messages WHERE id = ?", (message_id,))
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


def _message(r: sqlite3.Row) -> MessageRecord:
    return MessageRecord(
        r["id"], r["conversation_id"], r["question"], r["answer"], r["status"], r["error"], r["transcript_used"],
        r["window_start"], r["window_end"], r["profile"], r["device"], r["precision"],
        json.loads(r["settings_json"] or "{}"), json.loads(r["stats_json"] or "{}"), r["first_token_s"],
        r["tokens_per_s"], r["token_count"], r["created_at"], r["updated_at"], r["compare_group"])
