"""The SQLite file under the history, kept usable in whatever state it is found.

WAL with synchronous=NORMAL survives a crash or a kill -9; a newer schema is refused untouched; a damaged file is
moved aside (never while another process uses it) and a new one started; a full disk or a read-only folder still
shows the history, read-only; another process holding the lock gets `timeout` seconds of patience. Every failure
is a HistoryError worded for a person.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from .locks import SessionLock
from .migrations import SCHEMA_VERSION, migrate, schema_version

log = logging.getLogger(__name__)

DB_NAME = "history.sqlite3"
DISMISSED = "dismissed-notices.txt"  # names of damaged histories kept aside that the person was told about


class HistoryError(RuntimeError):
    """A history problem, worded for a person. `reason`: newer | locked | corrupt | full | readonly | io | other."""

    def __init__(self, message: str, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason


def default_folder() -> Path:
    """`LTU_DESKTOP_DATA`, else the platform's user data folder."""
    from ..paths import data_dir

    return data_dir()


def _errname(exc: BaseException) -> str:
    return f"{getattr(exc, 'sqlite_errorname', '')} {exc}".lower()


def _is_corrupt(exc: BaseException) -> bool:
    text = _errname(exc)
    return any(k in text for k in ("sqlite_corrupt", "sqlite_notadb", "malformed", "not a database"))


class Database:
    """The history's file and its one connection, guarded by a lock that serves every thread of the process; other
    processes (a second window, the CLI) are handled by SQLite's locking with `timeout` seconds of patience."""

    def __init__(self, folder: str | os.PathLike | None = None, *, timeout: float = 5.0) -> None:
        self.folder = Path(folder).expanduser() if folder is not None else default_folder()
        self.path = self.folder / DB_NAME
        self.timeout = timeout
        self.session = uuid.uuid4().hex
        self.notice: str | None = None  # a damaged file kept aside, or a history that can only be read: show it
        self.moved_aside: Path | None = None
        self.read_only = False  # a full disk or a read-only folder: the history is shown, nothing new is saved
        self._lock = threading.RLock()
        self._session_lock: SessionLock | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._session_lock = SessionLock(self.folder / "locks", self.session)
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
                migrate(conn)
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
                if schema_version(conn) != SCHEMA_VERSION:
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
        version = schema_version(conn)
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
                self._conn.close()
                self._conn = None
            if self._session_lock is not None:
                self._session_lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
