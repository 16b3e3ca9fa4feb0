"""Asking: streaming, stop, queueing while loading or busy, failures, regenerate, keys, responsiveness."""

from __future__ import annotations

import threading
import time

from conftest import wait_clips, wait_done
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from ui_fakes import FakeEngine, loader_for

from ltu_desktop.engine.types import CheckpointError, EngineError

WORDS = [f"word{i} " for i in range(40)]


def ready_window(make_window, qtbot, path, **engine_kw):
    engine = FakeEngine(**engine_kw)
    window = make_window(engine=engine)
    window.add_files([path])
    clip = wait_clips(qtbot, window, 1)[0]
    return window, engine, clip


def test_the_answer_streams_into_the_chat_piece_by_piece(make_window, qtbot, tone_file):
    window, engine, clip = ready_window(make_window, qtbot, tone_file, pieces=WORDS[:15], delay=0.03)
    seen: list[str] = []
    e = window.controller.ask("What is this?")
    widget = window.chat.widget(e.id)
    timer = QTimer()
    timer.timeout.connect(lambda: seen.append(widget.answer.text()))
    timer.start(10)
    wait_done(qtbot, e)
    timer.stop()
    partial = {t for t in seen if t.startswith("word0") and t.strip() != e.answer}
    assert len(partial) >= 4, "the text should grow visibly while the answer streams"
    assert e.state == "done" and e.answer == "".join(WORDS[:15]).strip()
    assert widget.answer.text() == e.answer
    status = widget.status.text()
    assert "s to first token" in status and "tokens/s" in status and "cpu · fp32" in status
    assert clip.exchanges == [e] and e.model == "Fake model" and e.settings["temperature"] == 0.1


def test_stop_mid_answer_keeps_the_partial_text_marked_stopped(make_window, qtbot, tone_file):
    window, engine, _ = ready_window(make_window, qtbot, tone_file, pieces=WORDS, delay=0.05)
    e = window.controller.ask("Describe it.")
    qtbot.waitUntil(lambda: "word3" in e.answer, timeout=5000)
    assert window.chat.stop_button.isEnabled()
    qtbot.mouseClick(window.chat.stop_button, Qt.MouseButton.LeftButton)
    wait_done(qtbot, e)
    assert e.state == "stopped"
    assert e.answer.startswith("word0 word1 word2 word3") and "word39" not in e.answer
    widget = window.chat.widget(e.id)
    assert widget.answer.text() == e.answer and "stopped" in widget.status.text()
    assert not window.chat.stop_button.isEnabled()


def test_escape_stops_the_answer(make_window, qtbot, tone_file):
    window, engine, _ = ready_window(make_window, qtbot, tone_file, pieces=WORDS, delay=0.05)
    assert window.stop_action.shortcut().toString() == "Esc"
    e = window.controller.ask("Describe it.")
    qtbot.waitUntil(lambda: "word1" in e.answer, timeout=5000)
    window.activateWindow()
    QTest.keyClick(window.chat.input, Qt.Key.Key_Escape)
    wait_done(qtbot, e)
    assert e.state == "stopped" and e.answer


def test_questions_asked_while_the_model_loads_are_queued_then_answered_in_order(make_window, qtbot, tone_file):
    engine, gate = FakeEngine(), threading.Event()
    window = make_window(loader=loader_for(engine, gate))
    qtbot.waitUntil(lambda: window.model_status.stage.text() == "Moving to the device", timeout=5000)
    assert window.model_status.bar.isVisible() and window.model_status.cancel.isVisible()
    window.add_files([tone_file])
    wait_clips(qtbot, window, 1)
    first, second = window.controller.ask("First?"), window.controller.ask("Second?")
    assert first.state == second.state == "queued"
    assert "Queued" in window.chat.widget(first.id).answer.text()
    gate.set()
    wait_done(qtbot, first)
    wait_done(qtbot, second)
    assert [c[1] for c in engine.calls if c[0] == "answer"] == ["First?", "Second?"]
    assert first.state == second.state == "done"
    assert window.model_status.model.text() == "Fake model"
    assert window.model_status.details.text() == "cpu · fp32 · 321 MB"


def test_a_failing_load_shows_why_and_questions_wait_for_the_next_model(make_window, qtbot, tone_file):
    engine, attempts = FakeEngine(), []

    def loader(request, progress):
        attempts.append(request)
        if len(attempts) == 1:
            raise CheckpointError("adapter.bin lacks tensor tltr.time_tr.attn.query.weight")
        return engine

    window = make_window(loader=loader)
    qtbot.waitUntil(lambda: "Could not load Demo profile" in window.messages.text(), timeout=5000)
    assert "lacks tensor" in window.messages.text()
    assert window.model_status.model.text() == "No model loaded"
    window.add_files([tone_file])
    clip = wait_clips(qtbot, window, 1)[0]
    e = window.controller.ask("Still there?")
    qtbot.waitUntil(lambda: e.state == "waiting", timeout=5000)
    assert "Waiting for a model" in window.chat.widget(e.id).answer.text()
    assert clip.transcript_state == "waiting"
    window.load_model()
    wait_done(qtbot, e)
    assert e.state == "done" and clip.transcript_state == "done"


def test_cancelling_the_load_says_so(make_window, qtbot):
    window = make_window(loader=loader_for(FakeEngine(), threading.Event()))
    qtbot.waitUntil(lambda: window.model_status.cancel.isVisible(), timeout=5000)
    qtbot.mouseClick(window.model_status.cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "cancelled" in window.messages.text(), timeout=5000)
    assert "cancelled" in window.model_status.model.text()
    assert not window.model_status.cancel.isVisible()


def test_an_error_mid_answer_keeps_the_partial_text_and_the_app_runs_on(make_window, qtbot, tone_file):
    oom = EngineError("Out of memory while answering; the partial answer was kept.")
    window, engine, _ = ready_window(make_window, qtbot, tone_file, fail_answer=oom)
    e = window.controller.ask("Why?")
    wait_done(qtbot, e)
    assert e.state == "failed" and e.answer == "The speaker"
    assert "Out of memory" in window.chat.widget(e.id).status.text()
    assert "Out of memory" in window.messages.text()
    engine.fail_answer = None
    again = window.controller.ask("Why now?")
    assert wait_done(qtbot, again).state == "done"


def test_regenerate_asks_again_and_copy_puts_the_answer_on_the_clipboard(make_window, qtbot, tone_file):
    window, engine, clip = ready_window(make_window, qtbot, tone_file)
    e = wait_done(qtbot, window.controller.ask("What is it?"))
    widget = window.chat.widget(e.id)
    qtbot.mouseClick(widget.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == "The speaker sounds calm."
    qtbot.mouseClick(widget.regenerate_button, Qt.MouseButton.LeftButton)
    assert len(clip.exchanges) == 2
    again = wait_done(qtbot, clip.exchanges[1])
    assert again.regenerated and again.question == "What is it?" and again.state == "done"
    assert "regenerated" in window.chat.widget(again.id).note.text()


def test_enter_sends_and_shift_enter_adds_a_line(make_window, qtbot, tone_file):
    window, engine, clip = ready_window(make_window, qtbot, tone_file)
    box = window.chat.input
    QTest.keyClicks(box, "first line")
    QTest.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClicks(box, "second line")
    assert clip.exchanges == []
    QTest.keyClick(box, Qt.Key.Key_Return)
    assert [x.question for x in clip.exchanges] == ["first line\nsecond line"]
    assert box.toPlainText() == ""
    wait_done(qtbot, clip.exchanges[0])


def test_a_suggested_question_is_asked_with_one_click(make_window, qtbot, tone_file):
    window, engine, clip = ready_window(make_window, qtbot, tone_file)
    chip = window.chat.suggestion_buttons[1]
    qtbot.mouseClick(chip, Qt.MouseButton.LeftButton)
    assert clip.exchanges[0].question == chip.text()
    wait_done(qtbot, clip.exchanges[0])


def test_a_queued_question_can_be_cancelled(make_window, qtbot, tone_file):
    window, engine, clip = ready_window(make_window, qtbot, tone_file, pieces=WORDS[:30], delay=0.05)
    first, second = window.controller.ask("One?"), window.controller.ask("Two?")
    qtbot.waitUntil(lambda: first.state == "streaming", timeout=5000)
    widget = window.chat.widget(second.id)
    assert widget.cancel_button.isVisible()
    qtbot.mouseClick(widget.cancel_button, Qt.MouseButton.LeftButton)
    assert second.state == "cancelled"
    wait_done(qtbot, first)
    assert [c[1] for c in engine.calls if c[0] == "answer"] == ["One?"]


def test_the_event_loop_stays_responsive_while_a_slow_answer_streams(make_window, qtbot, tone_file):
    window, engine, _ = ready_window(make_window, qtbot, tone_file, pieces=WORDS, delay=0.05)
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    e = window.controller.ask("Slowly, please.")
    wait_done(qtbot, e, timeout=10_000)
    timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert len(ticks) > 100 and max(gaps) < 0.2, f"longest UI stall {max(gaps):.3f} s"
    assert "MainThread" not in engine.threads, "the engine must run on the worker thread"


def test_a_model_that_reads_only_the_transcript_says_so_in_the_window_and_the_chat(make_window, qtbot, tone_file):
    window, engine, clip = ready_window(make_window, qtbot, tone_file, hears_audio=False)
    qtbot.waitUntil(lambda: window.controller.model is not None)
    assert "does not hear audio" in window.waveform.toolTip()
    chips = [b.text() for b in window.chat.suggestion_buttons]
    assert "Describe the sounds you hear." not in chips and "What is the speaker saying?" in chips
    e = window.controller.ask("What is said?")
    wait_done(qtbot, e)
    note = window.chat.widget(e.id).note.text()
    assert "transcript only" in note and "window" not in note


def test_a_model_that_hears_shows_the_window_it_heard(make_window, qtbot, tone_file):
    window, engine, clip = ready_window(make_window, qtbot, tone_file)
    qtbot.waitUntil(lambda: window.controller.model is not None)
    assert "The model hears 0:00.0" in window.waveform.toolTip()
    assert "Describe the sounds you hear." in [b.text() for b in window.chat.suggestion_buttons]
    e = window.controller.ask("What is this?")
    wait_done(qtbot, e)
    assert "window 0:00.0" in window.chat.widget(e.id).note.text()


def test_a_restored_answer_keeps_its_marks_before_it_is_shown(qtbot):
    """Built while its thread is hidden (a conversation opened from the history), it still underlines."""
    from PySide6.QtCore import Qt

    from ltu_desktop.ui.chat_view import ChatView, ExchangeWidget
    from ltu_desktop.ui.session import Exchange

    view = ChatView()
    qtbot.addWidget(view)
    e = Exchange("Who?", None, False, answer="Maria met Bob.", state="done", transcript_used="Maria spoke.",
                 settings={"mode": "transcript"})
    widget = ExchangeWidget(e, view)
    assert widget.answer.textFormat() == Qt.TextFormat.RichText and "underline" in widget.answer.text()
