"""The history in the app: saved as it happens, shown again after a restart, deleted on request, optional."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from conftest import wait_clips, wait_done, write_tone
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog, QMessageBox
from ui_fakes import FakeEngine

from ltu_desktop.batch.runner import read_items
from ltu_desktop.store.database import DB_NAME
from ltu_desktop.store.migrations import SCHEMA_VERSION

WORDS = [f"word{i} " for i in range(40)]


def messages(window) -> list[sqlite3.Row]:
    """What another program reading the database sees now."""
    db = sqlite3.connect(f"file:{window.history.history.path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM messages ORDER BY id").fetchall()
    finally:
        db.close()


def answer(make_window, qtbot, path, question="What is it?", **engine_kw):
    window = make_window(engine=FakeEngine(**engine_kw))
    window.add_files([path])
    clip = wait_clips(qtbot, window, 1)[0]
    return window, clip, window.controller.ask(question)


@pytest.fixture
def confirm(monkeypatch):
    """Answers the delete confirmation; set `confirm.answer` to No to refuse."""
    box = type("Confirm", (), {"answer": QMessageBox.StandardButton.Yes, "asked": []})()
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a: box.asked.append(a[2]) or box.answer))
    return box


def test_a_question_and_its_streamed_answer_are_saved_as_they_happen(make_window, qtbot, tone_file):
    window = make_window(engine=FakeEngine(pieces=WORDS, delay=0.05))
    store = window.history.history
    writes = []
    update_partial = store.update_partial
    store.update_partial = lambda mid, text: writes.append(text) or update_partial(mid, text)
    window.add_files([tone_file])
    wait_clips(qtbot, window, 1)
    e = window.controller.ask("What is it?")
    row = messages(window)[0]
    assert row["question"] == "What is it?" and row["status"] == "streaming" and row["answer"] == ""
    qtbot.waitUntil(lambda: messages(window)[0]["answer"].startswith("word0 word1"), timeout=5000)
    assert e.pending and messages(window)[0]["status"] == "streaming"
    wait_done(qtbot, e)
    row = messages(window)[0]
    assert row["status"] == "complete" and row["answer"] == e.answer == "".join(WORDS).strip()
    assert row["transcript_used"] == "The meeting is on Monday. Bring the slides."
    assert (row["window_start"], row["window_end"]) == (0.0, 3.0)
    assert (row["profile"], row["device"], row["precision"]) == ("Fake model", "cpu", "fp32")
    assert '"temperature": 0.1' in row["settings_json"] and row["token_count"] == 40 and row["first_token_s"] > 0
    assert 2 <= len(writes) <= 12, f"{len(writes)} partial writes for 40 pieces in 2 s: expected one per ~0.3 s"
    assert all(e.answer.startswith(w) for w in writes)


def test_stopped_and_failed_answers_are_saved_with_their_status(make_window, qtbot, tone_file):
    from ltu_desktop.engine.types import EngineError

    window, clip, e = answer(make_window, qtbot, tone_file, pieces=WORDS, delay=0.03)
    qtbot.waitUntil(lambda: "word2" in e.answer, timeout=5000)
    window.controller.stop()
    wait_done(qtbot, e)
    engine_error = EngineError("Out of memory while answering.")
    window.controller.engine.worker._engine.fail_answer = engine_error
    failed = wait_done(qtbot, window.controller.ask("Again?"))
    stopped_row, failed_row = messages(window)
    assert stopped_row["status"] == "stopped" and stopped_row["answer"] == e.answer
    assert failed_row["status"] == "failed" and "Out of memory" in failed_row["error"]
    assert failed_row["answer"] == failed.answer == "word0 word1"
    assert stopped_row["conversation_id"] == failed_row["conversation_id"] == clip.conversation_id


def test_a_restart_shows_the_past_clip_and_continues_its_conversation(make_window, qtbot, long_file):
    first = make_window()
    first.add_files([long_file])
    clip = wait_clips(qtbot, first, 1)[0]
    first.waveform.set_window_start(5.0)
    wait_done(qtbot, first.controller.ask("First?"))
    first.transcript.begin_edit()
    first.transcript.editor.setPlainText("My own transcript.")
    first.transcript.finish_edit()
    wait_done(qtbot, first.controller.ask("Second?"))
    conversation = clip.conversation_id
    first.close()

    window = make_window()
    assert window.clip_list.count() == 1 and window.controller.current is None
    assert window.clip_list.conversation_ids(window.clip_list.clip_ids()[0]) == [conversation]
    row = window.clip_list.topLevelItem(0)
    assert row.text(0).startswith("long.flac") and row.child(0).text(0) == "First?  (2)"
    window.clip_list.select_conversation(conversation)
    again = window.controller.current
    qtbot.waitUntil(lambda: again.audio is not None, timeout=5000)
    widgets = list(window.chat.threads[again.id].widgets.values())
    assert [w.question.text() for w in widgets] == ["First?", "Second?"]
    assert widgets[0].answer.text() == "The speaker sounds calm." and "cpu · fp32" in widgets[0].status.text()
    assert window.waveform.window_start() == 5.0 and window.player_bar.play_button.isEnabled()
    assert window.transcript.banner.isVisible() and window.transcript.editor.toPlainText() == "My own transcript."
    assert window.chat.send_button.isEnabled()
    third = wait_done(qtbot, window.controller.ask("Third?"))
    assert third.transcript_used == "My own transcript." and third.window == (5.0, 15.0)
    rows = messages(window)
    assert [r["question"] for r in rows] == ["First?", "Second?", "Third?"]
    assert {r["conversation_id"] for r in rows} == {conversation}
    assert row.child(0).text(0) == "First?  (3)"


def test_a_new_conversation_is_a_second_row_and_each_opens_its_own_chat(make_window, qtbot, tone_file):
    window, clip, e = answer(make_window, qtbot, tone_file)
    wait_done(qtbot, e)
    first = clip.conversation_id
    window.new_conversation_action.trigger()
    assert clip.exchanges == [] and not window.chat.threads[clip.id].widgets
    wait_done(qtbot, window.controller.ask("Something else?"))
    second = clip.conversation_id
    assert second != first and window.clip_list.conversation_ids(clip.id) == [first, second]
    window.clip_list.select_conversation(first)
    assert [x.question for x in clip.exchanges] == ["What is it?"]
    assert [w.question.text() for w in window.chat.threads[clip.id].widgets.values()] == ["What is it?"]
    window.clip_list.select_conversation(second)
    assert [x.question for x in clip.exchanges] == ["Something else?"]


def test_an_answer_cut_short_by_closing_the_app_is_shown_as_interrupted(make_window, qtbot, tone_file):
    first, clip, e = answer(make_window, qtbot, tone_file, pieces=WORDS, delay=0.05)
    qtbot.waitUntil(lambda: "word3" in e.answer, timeout=5000)
    first.close()
    window = make_window()
    window.clip_list.select(window.clip_list.clip_ids()[0])
    restored = window.controller.current.exchanges[0]
    assert restored.state == "interrupted" and restored.answer.startswith("word0 word1 word2")
    status = window.chat.widget(restored.id).status.text()
    assert "interrupted" in status and "closed" in status


def test_a_missing_file_keeps_the_conversation_readable_until_it_is_found(make_window, qtbot, tone_file, tmp_path):
    path = tmp_path / "voice.wav"
    shutil.copy(tone_file, path)
    first, clip, e = answer(make_window, qtbot, path)
    wait_done(qtbot, e)
    first.close()
    moved = tmp_path / "moved" / "voice.wav"
    moved.parent.mkdir()
    path.rename(moved)

    window = make_window()
    assert "missing" in window.clip_list.topLevelItem(0).text(0)
    window.clip_list.select(window.clip_list.clip_ids()[0])
    clip = window.controller.current
    assert clip.missing and [x.answer for x in clip.exchanges] == ["The speaker sounds calm."]
    assert window.chat.widget(clip.exchanges[0].id).answer.text() == "The speaker sounds calm."
    assert not window.chat.send_button.isEnabled() and not window.chat.input.isEnabled()
    assert window.chat.reason.isVisible() and "no longer there" in window.chat.reason.text()
    assert window.controller.ask("Still there?") is None
    assert "The meeting is on Monday" in window.transcript.segments.item(0).text()

    window.add_files([moved])
    qtbot.waitUntil(lambda: clip.audio is not None, timeout=5000)
    assert not clip.missing and window.chat.send_button.isEnabled() and len(window.controller.clips) == 1
    assert "missing" not in window.clip_list.topLevelItem(0).text(0)
    wait_done(qtbot, window.controller.ask("Found it?"))
    assert [r["conversation_id"] for r in messages(window)] == [clip.conversation_id] * 2
    assert window.history.history.clip(clip.store_id).path == str(moved)


def test_deleting_a_conversation_and_a_recorded_clip(make_window, qtbot, tone_file, confirm):
    window = make_window()
    store = window.history.history
    recording = write_tone(window.record_bar.new_path(), 2.0)
    assert recording.parent == store.recordings_dir
    window.record_bar.recorded.emit(str(recording))
    clip = wait_clips(qtbot, window, 1)[0]
    assert store.clip(clip.store_id).recording_path == str(recording)
    wait_done(qtbot, window.controller.ask("One?"))
    first = clip.conversation_id
    window.controller.new_conversation()
    wait_done(qtbot, window.controller.ask("Two?"))

    window.clip_list.select_conversation(first)
    confirm.answer = QMessageBox.StandardButton.No
    QTest.keyClick(window.clip_list, Qt.Key.Key_Delete)
    assert "1 conversation" in confirm.asked[-1] and len(store.conversations()) == 2
    confirm.answer = QMessageBox.StandardButton.Yes
    QTest.keyClick(window.clip_list, Qt.Key.Key_Delete)
    assert [c.messages[0].question for c in store.conversations()] == ["Two?"]
    assert window.clip_list.conversation_ids(clip.id) == [clip.conversation_id]

    window.clip_list.select(clip.id)
    window.remove_action.trigger()
    assert "Recordings made in the app are deleted too" in confirm.asked[-1]
    assert store.list_clips() == [] and not recording.exists()
    assert window.clip_list.count() == 0 and window.controller.current is None
    window.close()
    assert make_window().clip_list.count() == 0


def test_a_newer_history_is_left_alone_and_the_app_still_answers(make_window, qtbot, tone_file, tmp_path,
                                                                 monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    db = sqlite3.connect(data / DB_NAME)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = (data / DB_NAME).read_bytes()
    window, clip, e = answer(make_window, qtbot, tone_file)
    assert "newer ltu-desktop" in window.messages.history[0][1] and "nothing is saved" in window.messages.history[0][1]
    assert window.history_label is not None and window.history_label.isVisible()
    assert not window.history.enabled and not window.new_conversation_action.isEnabled()
    assert wait_done(qtbot, e).state == "done" and clip.store_id is None
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(tmp_path / "out.json"), "")))
    window.export_all_action.trigger()
    assert [(m["instruction"], m["pred"]) for m in read_items(tmp_path / "out.json")] == [
        ("What is it?", "The speaker sounds calm.")]
    window.close()
    assert (data / DB_NAME).read_bytes() == before


def test_a_damaged_history_is_set_aside_and_the_person_told(make_window, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / DB_NAME).write_bytes(b"this is not a database" * 100)
    window = make_window()
    assert window.history.enabled and window.history_label is None
    level, text = window.messages.history[0]
    assert level == "info" and "damaged" in text and "new, empty history" in text
    assert list(data.glob(f"{DB_NAME}.corrupt-*"))


def test_a_screenshot_window_neither_shows_nor_changes_the_history(make_window, qtbot, tone_file, qapp):
    from ltu_desktop.settings import Settings
    from ltu_desktop.ui.main_window import MainWindow

    first, clip, e = answer(make_window, qtbot, tone_file)
    wait_done(qtbot, e)
    first.close()
    window = MainWindow(Settings(), autoload=False, persist=False, history=False)
    qtbot.addWidget(window)
    try:
        assert window.clip_list.count() == 0 and not window.history.enabled and window.history_label is None
    finally:
        window.close()


def test_an_unusable_data_folder_turns_the_history_off(make_window, qtbot, tone_file, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("LTU_DESKTOP_DATA", str(blocker))
    window, clip, e = answer(make_window, qtbot, tone_file)
    assert "Cannot use the history folder" in window.messages.history[0][1]
    assert window.history_label is not None and wait_done(qtbot, e).state == "done"


def test_a_file_changed_since_is_not_taken_for_the_old_clip(make_window, qtbot, tmp_path):
    path = write_tone(tmp_path / "take.wav", 2.0)
    first, clip, e = answer(make_window, qtbot, path)
    wait_done(qtbot, e)
    first.close()
    write_tone(path, 2.0, freq=880.0)
    window = make_window()
    window.clip_list.select(window.clip_list.clip_ids()[0])
    clip = window.controller.current
    qtbot.waitUntil(lambda: bool(clip.missing), timeout=5000)
    assert "has changed" in window.chat.reason.text() and clip.audio is None
    assert len(window.controller.clips) == 1 and "missing" in window.clip_list.topLevelItem(0).text(0)


def test_a_transcript_only_answer_is_saved_and_restored_as_such(make_window, qtbot, tone_file):
    first, clip, e = answer(make_window, qtbot, tone_file, hears_audio=False)
    wait_done(qtbot, e)
    assert json.loads(messages(first)[0]["settings_json"])["mode"] == "transcript"
    conversation = clip.conversation_id
    first.close()

    window = make_window()
    window.clip_list.select_conversation(conversation)
    [widget] = window.chat.threads[window.controller.current.id].widgets.values()
    assert "transcript only" in widget.note.text()
