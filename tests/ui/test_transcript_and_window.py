"""The transcript panel and the waveform window: what the person changes is what the engine gets."""

from __future__ import annotations

import numpy as np
from conftest import wait_clips, wait_done
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from ltu_desktop.ui.waveform_view import WaveformView, envelope


def mouse(widget, kind, x: float, buttons=Qt.MouseButton.LeftButton) -> None:
    pos = QPointF(x, widget.height() / 2)
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    held = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else buttons
    event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, held, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def answer_calls(engine):
    return [c for c in engine.calls if c[0] == "answer"]


def test_the_transcript_is_computed_when_a_clip_arrives_and_shows_timed_segments(make_window, qtbot, tone_file,
                                                                                  fake_engine):
    window = make_window(engine=fake_engine)
    window.add_files([tone_file])
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: clip.transcript_state == "done", timeout=5000)
    assert ("transcribe", clip.audio.content_hash) in fake_engine.calls
    rows = [window.transcript.segments.item(i).text() for i in range(window.transcript.segments.count())]
    assert rows == ["0:00.0  The meeting is on Monday.", "0:01.5  Bring the slides."]
    assert not window.transcript.progress.isVisible()


def test_the_transcript_says_which_backend_made_it(make_window, qtbot, tone_file, fake_engine):
    """CTranslate2 and openai-whisper can word speech differently: the panel names the one that ran."""
    fake_engine.transcript_backend = "CTranslate2 float32"
    window = make_window(engine=fake_engine)
    window.add_files([tone_file])
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: clip.transcript_state == "done", timeout=5000)
    assert window.transcript.state.text() == "language: en · by CTranslate2 float32"
    assert "Transcripts row" in window.transcript.state.toolTip()


def test_the_transcript_shows_progress_while_whisper_runs(make_window, qtbot, tone_file):
    from ui_fakes import FakeEngine

    window = make_window(engine=FakeEngine(transcribe_delay=0.5))
    window.add_files([tone_file])
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: clip.transcript_state == "running", timeout=5000)
    assert window.transcript.progress.isVisible() and "transcribing" in window.transcript.state.text()
    qtbot.waitUntil(lambda: clip.transcript_state == "done", timeout=5000)
    assert not window.transcript.progress.isVisible()


def test_clicking_a_segment_plays_from_its_start(make_window, qtbot, tone_file, monkeypatch):
    window = make_window()
    played = []
    def fake_play(samples, start=0.0, end=None):
        played.append((start, end))

    monkeypatch.setattr(window.player_bar.player, "play", fake_play)
    window.add_files([tone_file])
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: clip.transcript_state == "done", timeout=5000)
    view = window.transcript.segments
    rect = view.visualItemRect(view.item(1))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert played and played[-1] == (1.5, None)


def test_an_edited_transcript_is_what_the_model_gets_and_the_chat_says_so(make_window, qtbot, tone_file, fake_engine):
    window = make_window(engine=fake_engine)
    window.add_files([tone_file])
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: clip.transcript_state == "done", timeout=5000)
    view = window.transcript
    qtbot.mouseClick(view.edit_button, Qt.MouseButton.LeftButton)
    view.editor.setPlainText("The meeting is on Friday.")
    qtbot.mouseClick(view.save_button, Qt.MouseButton.LeftButton)
    assert view.banner.isVisible() and clip.edited_text == "The meeting is on Friday."
    e = wait_done(qtbot, window.controller.ask("When is the meeting?"))
    assert answer_calls(fake_engine)[-1][2] == "The meeting is on Friday."
    assert e.transcript_edited and e.transcript_used == "The meeting is on Friday."
    assert "edited transcript" in window.chat.widget(e.id).note.text()

    qtbot.mouseClick(view.revert_button, Qt.MouseButton.LeftButton)
    assert clip.transcript_override() is None and not view.banner.isVisible()
    again = wait_done(qtbot, window.controller.ask("And now?"))
    assert answer_calls(fake_engine)[-1][2] is None
    assert not again.transcript_edited and again.transcript_used == clip.transcript.text


def test_dragging_the_window_changes_the_window_given_to_prepare(make_window, qtbot, long_file, fake_engine):
    window = make_window(engine=fake_engine)
    window.add_files([long_file])
    clip = wait_clips(qtbot, window, 1)[0]
    wave = window.waveform
    wave.resize(640, 120)
    r = wave.window_rect()
    with qtbot.waitSignal(wave.windowMoved) as moved:
        mouse(wave, QEvent.Type.MouseButtonPress, r.center().x())
        mouse(wave, QEvent.Type.MouseMove, r.center().x() + 200)
        mouse(wave, QEvent.Type.MouseButtonRelease, r.center().x() + 200)
    start = moved.args[0]
    assert 8.0 < start <= 22.0 and clip.window_start == start
    wait_done(qtbot, window.controller.ask("What happens here?"))
    prepares = [c[1] for c in fake_engine.calls if c[0] == "prepare"]
    assert prepares[-1] == (round(start, 3), round(start + 10.0, 3))
    assert clip.exchanges[-1].window == prepares[-1]


def test_the_window_moves_with_the_keyboard_and_stays_inside_the_clip(make_window, qtbot, long_file, fake_engine):
    window = make_window(engine=fake_engine)
    window.add_files([long_file])
    clip = wait_clips(qtbot, window, 1)[0]
    wave = window.waveform
    QTest.keyClick(wave, Qt.Key.Key_Right)
    QTest.keyClick(wave, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert clip.window_start == 6.0 and "0:06.0" in wave.accessibleDescription()
    QTest.keyClick(wave, Qt.Key.Key_End)
    assert clip.window_start == 22.0 and clip.window() == (22.0, 32.0)
    wait_done(qtbot, window.controller.ask("The end?"))
    assert [c[1] for c in fake_engine.calls if c[0] == "prepare"][-1] == (22.0, 32.0)


def test_each_clip_keeps_its_own_window_and_chat(make_window, qtbot, long_file, tone_file):
    window = make_window()
    window.add_files([long_file])
    long_clip = wait_clips(qtbot, window, 1)[0]
    window.waveform.set_window_start(12.0)
    window.add_files([tone_file])
    tone_clip = [c for c in wait_clips(qtbot, window, 2) if c is not long_clip][0]
    assert window.controller.current is tone_clip and window.waveform.window_start() == 0.0
    assert tone_clip.window() == (0.0, 3.0)
    window.clip_list.select(long_clip.id)
    assert window.waveform.window_start() == 12.0
    wait_done(qtbot, window.controller.ask("Long?"))
    window.clip_list.select(tone_clip.id)
    assert tone_clip.exchanges == [] and len(long_clip.exchanges) == 1
    assert window.chat.stack.currentWidget() is window.chat.threads[tone_clip.id]


def test_clicking_outside_the_window_seeks_playback(qtbot):
    wave = WaveformView()
    qtbot.addWidget(wave)
    wave.resize(612, 120)
    wave.set_clip(envelope(np.zeros(16000 * 40, np.float32)), 40.0)
    with qtbot.waitSignal(wave.seekRequested) as seek:
        mouse(wave, QEvent.Type.MouseButtonPress, 6 + 600 * 0.75)
    assert abs(seek.args[0] - 30.0) < 0.2


def test_envelope_keeps_the_peaks_of_each_bin():
    x = np.zeros(16000, np.float32)
    x[100], x[9000] = 0.9, -0.7
    env = envelope(x, bins=16)
    assert env.shape == (2, 16) and env[1].max() == np.float32(0.9) and env[0].min() == np.float32(-0.7)
    assert envelope(np.zeros(0, np.float32)).shape == (2, 1)
