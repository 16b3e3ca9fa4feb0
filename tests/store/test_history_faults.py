"""The history on a full or read-only disk, a damaged file kept aside, and long answers streamed cheaply."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ltu_desktop.store import history as history_mod
from ltu_desktop.store.history import History, HistoryError


def _filled(folder: Path) -> int:
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
    conv = _filled(tmp_path)

    def read_only_fs(self, folder, session):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(history_mod._SessionLock, "__init__", read_only_fs)
    with History(tmp_path) as h:
        _check_read_only(h, conv)
        assert "Read-only file system" in h.notice


def test_a_database_that_cannot_be_written_is_still_read(tmp_path, monkeypatch):
    conv = _filled(tmp_path)
    monkeypatch.setattr(History, "_open", lambda self: (_ for _ in ()).throw(
        HistoryError("Cannot read or write the history: disk I/O error.", "io")))
    with History(tmp_path) as h:
        _check_read_only(h, conv)
    assert list((tmp_path / "locks").glob("*.lock")) == []  # its session lock went with it


def test_no_history_and_no_folder_is_still_an_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(HistoryError, match="Cannot use the history folder"):
        History(tmp_path / "file")


@pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0, reason="mounts a small tmpfs (root on Linux)")
def test_a_really_full_then_read_only_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        conv = _filled(mnt)
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


def test_a_long_streaming_answer_is_not_rewritten_on_every_update(tmp_path):
    """A 16 KB answer growing word by word: once it spans pages (4 KB), each rewrite costs a page per 4 KB, so
    the 2400 updates after that are written a few dozen times (a short one stays one page per update)."""
    h = History(tmp_path)
    conv = h.new_conversation(h.add_clip(tmp_path / "a.wav", "ha", 3.0))
    mid = h.ask(conv, "Tell me everything.", "", (0, 3), "demo", "cpu", "fp32", {})
    text = "word " * 820
    h.update_partial(mid, text)
    writes = []
    h._conn.set_trace_callback(lambda sql: writes.append(sql) if sql.startswith("UPDATE messages") else None)
    while len(text) < 16_000:
        text += "word "
        h.update_partial(mid, text)
    assert len(writes) < 60, f"{len(writes)} rewrites of a multi-page answer for {len(text) // 5 - 820} updates"
    assert h.message(mid).answer.startswith("word word") and len(h.message(mid).answer) > 4000
    h.close()  # the updates held back are written on close: nothing said is lost
    with History(tmp_path) as again:
        assert (again.message(mid).status, again.message(mid).answer) == ("interrupted", text)


def test_short_answers_are_still_written_on_every_update(tmp_path):
    with History(tmp_path) as h:
        conv = h.new_conversation(h.add_clip(tmp_path / "a.wav", "ha", 3.0))
        mid = h.ask(conv, "q", "", (0, 3), "demo", "cpu", "fp32", {})
        for text in ("a", "a b", "a b c"):
            h.update_partial(mid, text)
            assert h.message(mid).answer == text


def test_an_export_follows_the_umask(tmp_path):
    import stat

    from ltu_desktop.store.export import export

    _filled(tmp_path)
    old = os.umask(0o022)
    try:
        with History(tmp_path) as h:
            export(h, tmp_path / "out.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o644
