"""The history's file in bad states and bad moments: each gives a HistoryError a person can act on, no file is
silently lost, and a full or read-only disk still shows the history."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ltu_desktop.store.database import HistoryError
from ltu_desktop.store.history import History
from ltu_desktop.store.locks import SessionLock
from ltu_desktop.store.migrations import SCHEMA_VERSION


def _filled(folder: Path) -> int:
    """A history with 200 answered messages; returns the conversation id."""
    with History(folder) as h:
        conv = h.new_conversation(h.add_clip(folder / "a.wav", "ha", 3.0))
        for i in range(200):
            mid = h.ask(conv, f"question {i}", "transcript " * 50, (0, 3), "demo", "cpu", "fp32", {})
            h.finish(mid, "answer " * 50)
        return conv


def test_newer_schema_is_refused_and_left_untouched(tmp_path):
    db = sqlite3.connect(tmp_path / "history.sqlite3")
    db.executescript(f"CREATE TABLE future (x); INSERT INTO future VALUES (1); PRAGMA user_version = {SCHEMA_VERSION + 1};")
    db.close()
    before = (tmp_path / "history.sqlite3").read_bytes()
    with pytest.raises(HistoryError, match="newer ltu-desktop") as err:
        History(tmp_path)
    assert err.value.reason == "newer"
    assert (tmp_path / "history.sqlite3").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.sqlite3", "locks"]
    assert list((tmp_path / "locks").iterdir()) == []


HOLDER = r"""
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA locking_mode = EXCLUSIVE")
db.execute("BEGIN EXCLUSIVE")
db.execute("UPDATE messages SET answer = answer")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


def test_a_database_locked_by_another_instance(tmp_path):
    _filled(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "history.sqlite3")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        with pytest.raises(HistoryError, match="locked by another program") as err:
            History(tmp_path, timeout=0.3)
        assert err.value.reason == "locked" and time.monotonic() - t0 >= 0.3
    finally:
        holder.communicate("\n", timeout=10)
    with History(tmp_path) as h:
        assert len(h.conversations()[0].messages) == 200
        assert not list(tmp_path.glob("*.corrupt-*"))


def test_a_write_while_another_connection_holds_the_lock_can_be_retried(tmp_path):
    conv = _filled(tmp_path)
    with History(tmp_path, timeout=0.2) as h:
        other = sqlite3.connect(tmp_path / "history.sqlite3", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(HistoryError) as err:
            h.ask(conv, "blocked?", "", (0, 3), "demo", "cpu", "fp32", {})
        assert err.value.reason == "locked"
        assert len(h.conversation(conv).messages) == 200  # reading still works in WAL mode
        other.execute("ROLLBACK")
        other.close()
        mid = h.ask(conv, "blocked?", "", (0, 3), "demo", "cpu", "fp32", {})
        assert h.message(mid).question == "blocked?"


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_file_is_moved_aside_and_a_new_history_started(tmp_path, damage):
    path = tmp_path / "history.sqlite3"
    if damage == "garbage":
        path.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    else:
        _filled(tmp_path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    damaged = path.read_bytes()
    with History(tmp_path) as h:
        assert h.moved_aside is not None and h.moved_aside.name.startswith("history.sqlite3.corrupt-")
        assert h.moved_aside.read_bytes() == damaged and "damaged" in h.notice and h.moved_aside.name in h.notice
        assert h.list_clips() == []
        h.new_conversation(h.add_clip(tmp_path / "b.wav", "hb", 1.0))
    path.write_bytes(b"damaged again" * 100)  # a second accident in the same second keeps both copies
    with History(tmp_path) as h:
        assert h.moved_aside is not None
    kept = [p for p in tmp_path.glob("history.sqlite3.corrupt-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 2


def test_a_full_disk_is_reported_and_the_write_can_be_retried(tmp_path):
    conv = _filled(tmp_path)
    with History(tmp_path) as h:
        mid = h.ask(conv, "long one?", "", (0, 3), "demo", "cpu", "fp32", {})
        h.update_partial(mid, "the beginning")
        pages = h._conn.execute("PRAGMA page_count").fetchone()[0]
        h._conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk fills up now
        long_answer = "a very long answer " * 5000
        with pytest.raises(HistoryError, match="disk .* is full") as err:
            h.finish(mid, long_answer, "complete", {"new_tokens": 9000})
        assert err.value.reason == "full"
        with pytest.raises(HistoryError, match="full"):
            h.ask(conv, "another " * 5000, "", (0, 3), "demo", "cpu", "fp32", {})
        m = h.message(mid)
        assert (m.status, m.answer) == ("streaming", "the beginning")  # nothing half-written
        h._conn.execute(f"PRAGMA max_page_count = {pages * 100}")  # space was freed: retry the same call
        h.finish(mid, long_answer, "complete", {"new_tokens": 9000})
        assert (h.message(mid).answer, h.message(mid).token_count) == (long_answer, 9000)
    with History(tmp_path) as h:
        assert h.message(mid).answer == long_answer and len(h.conversation(conv).messages) == 201


def test_a_closed_history_says_so(tmp_path):
    h = History(tmp_path)
    h.close()
    with pytest.raises(HistoryError, match="closed"):
        h.list_clips()


def test_an_unusable_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(HistoryError, match="Cannot use the history folder") as err:
        History(tmp_path / "file")
    assert err.value.reason == "io"


def test_a_corrupt_file_in_use_by_another_instance_is_not_moved(tmp_path):
    running = History(tmp_path)
    try:
        running._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (tmp_path / "history.sqlite3").write_bytes(b"overwritten by accident" * 200)
        with pytest.raises(HistoryError, match="Close the other ltu-desktop") as err:
            History(tmp_path)
        assert err.value.reason == "corrupt" and not list(tmp_path.glob("*.corrupt-*"))
    finally:
        running.close()
    with History(tmp_path) as h:
        assert h.moved_aside is not None


def _five_answers(folder: Path) -> int:
    with History(folder) as h:
        conv = h.new_conversation(h.add_clip(folder / "a.wav", "ha", 3.0))
        for i in range(5):
            h.finish(h.ask(conv, f"question {i}", "words", (0, 3), "demo", "cpu", "fp32", {}), f"answer {i}")
        return conv


def _check_read_only(h: History, conv: int) -> None:
    assert h.read_only and "can only be read" in h.notice
    assert [m.answer for m in h.conversation(conv).messages] == [f"answer {i}" for i in range(5)]
    with pytest.raises(HistoryError, match="Not saved: .*can only be read"):
        h.ask(conv, "new?", "", (0, 3), "demo", "cpu", "fp32", {})
    with pytest.raises(HistoryError, match="Not saved"):
        h.rename_conversation(conv, "x")


def test_a_folder_that_cannot_be_written_is_still_read(tmp_path, monkeypatch):
    conv = _five_answers(tmp_path)

    def read_only_fs(self, folder, session):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(SessionLock, "__init__", read_only_fs)
    with History(tmp_path) as h:
        _check_read_only(h, conv)
        assert "Read-only file system" in h.notice


def test_a_database_that_cannot_be_written_is_still_read(tmp_path, monkeypatch):
    conv = _five_answers(tmp_path)
    monkeypatch.setattr(History, "_open", lambda self: (_ for _ in ()).throw(
        HistoryError("Cannot read or write the history: disk I/O error.", "io")))
    with History(tmp_path) as h:
        _check_read_only(h, conv)
    assert list((tmp_path / "locks").glob("*.lock")) == []  # its session lock went with it


@pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0, reason="mounts a small tmpfs (root on Linux)")
def test_a_really_full_then_read_only_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        conv = _five_answers(mnt)
        with pytest.raises(OSError), open(mnt / "filler", "wb") as f:
            while True:
                f.write(b"x" * 65536)
        with History(mnt) as h:
            _check_read_only(h, conv)
            assert "the disk is full" in h.notice
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        with History(mnt) as h:
            _check_read_only(h, conv)
    finally:
        subprocess.run(["umount", str(mnt)])


def test_the_moved_aside_note_is_shown_once_and_until_dismissed(tmp_path, capsys):
    from ltu_desktop.cli import main

    (tmp_path / "history.sqlite3").write_bytes(b"not a database " * 100)
    os.environ["LTU_DESKTOP_DATA"], old = str(tmp_path), os.environ.get("LTU_DESKTOP_DATA")
    try:
        assert main(["history", "list"]) == 0
        err = capsys.readouterr().err
        assert err.count("was damaged") == 1 and "history.sqlite3.corrupt-" in err
        assert main(["history", "list"]) == 0  # a later run still says where the old file is
        err = capsys.readouterr().err
        assert "An earlier, damaged history is kept" in err and "history.sqlite3.corrupt-" in err
        assert main(["history", "dismiss"]) == 0
        assert "Dismissed; kept:" in capsys.readouterr().err
        assert main(["history", "list"]) == 0
        assert "damaged" not in capsys.readouterr().err
        assert len(list(tmp_path.glob("history.sqlite3.corrupt-*"))) == 1  # the file itself stays
    finally:
        if old is None:
            del os.environ["LTU_DESKTOP_DATA"]
        else:
            os.environ["LTU_DESKTOP_DATA"] = old
