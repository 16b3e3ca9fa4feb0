"""Getting audio in: drops onto the clip list and the window, File > Open, and bad files."""

from __future__ import annotations

import numpy as np
from conftest import drag_enter_event, drop_files, wait_clips, write_tone
from PySide6.QtWidgets import QFileDialog, QMessageBox


def test_dropping_two_files_on_the_clip_list_adds_both_resampled_to_16k_mono(make_window, qtbot, tone_file, long_file):
    window = make_window()
    assert drop_files(window.clip_list.viewport(), [tone_file, long_file])
    clips = wait_clips(qtbot, window, 2)
    by_name = {c.name: c for c in clips}
    assert set(by_name) == {"tone.wav", "long.flac"}
    tone = by_name["tone.wav"].audio
    assert tone.samples.ndim == 1 and tone.samples.dtype == np.float32
    assert abs(tone.duration - 3.0) < 0.01 and abs(by_name["long.flac"].duration - 32.0) < 0.01
    assert window.clip_list.count() == 2
    assert window.controller.current is not None and window.clip_list.currentItem() is not None


def test_dropping_on_any_part_of_the_window_works(make_window, qtbot, tone_file):
    window = make_window()
    assert drop_files(window, [tone_file])
    assert wait_clips(qtbot, window, 1)[0].name == "tone.wav"


def test_a_drop_without_files_is_refused(make_window):
    from PySide6.QtCore import QMimeData, QPointF
    from PySide6.QtWidgets import QApplication

    window = make_window()
    mime = QMimeData()
    mime.setText("just text")
    enter = drag_enter_event(QPointF(5, 5), mime)
    QApplication.sendEvent(window.clip_list.viewport(), enter)
    assert not enter.isAccepted()


def test_a_corrupt_file_shows_a_message_and_the_app_keeps_working(make_window, qtbot, corrupt_file, tone_file,
                                                                   tmp_path):
    window = make_window()
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    m4a = tmp_path / "voice.m4a"
    m4a.write_bytes(b"\x00\x00\x00\x18ftypM4A " + bytes(64))
    drop_files(window.clip_list.viewport(), [corrupt_file])
    qtbot.waitUntil(lambda: "broken.wav" in window.messages.text(), timeout=5000)
    assert "not a readable audio file" in window.messages.text()
    drop_files(window.clip_list.viewport(), [m4a, empty])
    qtbot.waitUntil(lambda: len(window.messages.history) >= 3, timeout=5000)
    texts = " ".join(t for _, t in window.messages.history)
    assert "m4a" in texts and "empty" in texts
    assert window.controller.clips == {}
    drop_files(window.clip_list.viewport(), [tone_file])
    assert wait_clips(qtbot, window, 1)[0].name == "tone.wav"


def test_file_open_uses_the_native_dialog_and_remembers_the_folder(make_window, qtbot, tmp_path, monkeypatch):
    sub = tmp_path / "sounds"
    sub.mkdir()
    a, b = write_tone(sub / "a.ogg", 1.0, rate=48_000), write_tone(sub / "b.wav", 1.5, rate=8_000, channels=1)
    seen = {}

    def fake_dialog(parent, caption, folder, filters):
        seen.update(caption=caption, folder=folder, filters=filters)
        return [str(a), str(b)], filters.split(";;")[0]

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(fake_dialog))
    window = make_window()
    window.open_action.trigger()
    clips = wait_clips(qtbot, window, 2)
    assert sorted(round(c.duration, 2) for c in clips) == [1.0, 1.5]
    assert "*.flac" in seen["filters"] and "*.mp3" in seen["filters"]
    assert window.settings.last_folder == str(sub)
    window.open_action.trigger()
    assert seen["folder"] == str(sub)


def test_removing_a_clip_drops_its_chat(make_window, qtbot, tone_file, long_file, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a: QMessageBox.StandardButton.Yes))
    window = make_window()
    window.add_files([tone_file])
    first = wait_clips(qtbot, window, 1)[0]
    window.add_files([long_file])
    wait_clips(qtbot, window, 2)
    window.clip_list.select(first.id)
    window.remove_action.trigger()
    assert first.id not in window.controller.clips and window.clip_list.count() == 1
    assert window.controller.current is not None and window.controller.current.name == "long.flac"


def test_a_file_dropped_on_the_question_box_becomes_a_clip_not_text(make_window, qtbot, tone_file, long_file):
    window = make_window()
    window.add_files([tone_file])
    wait_clips(qtbot, window, 1)
    assert drop_files(window.chat.input.viewport(), [long_file])
    assert len(wait_clips(qtbot, window, 2)) == 2
    assert window.chat.input.toPlainText() == ""


def test_opening_a_file_again_shows_the_clip_there_is(make_window, qtbot, tone_file, long_file, tmp_path):
    window = make_window()
    window.add_files([tone_file, long_file])
    tone = next(c for c in wait_clips(qtbot, window, 2) if c.name == "tone.wav")
    copy = tmp_path / "copy.wav"
    copy.write_bytes(tone_file.read_bytes())
    window.add_files([copy])
    qtbot.waitUntil(lambda: window.controller.current is tone, timeout=5000)
    assert len(window.controller.clips) == 2 and window.clip_list.count() == 2
