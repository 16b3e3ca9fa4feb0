"""What a new user ran into (issue 14), each point as a test of what they would notice."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from conftest import wait_clips, wait_done
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from ui_fakes import FakeEngine, loader_for

from ltu_desktop.engine.types import CheckpointError, Transcript
from ltu_desktop.settings import ModelChoice, Settings, load_settings


def _files(tiny_profile, **changes) -> ModelChoice:
    paths = dict(llm=str(tiny_profile.llm), adapter=str(tiny_profile.adapter),
                 feature_whisper=str(tiny_profile.feature_whisper), asr_whisper="")
    return ModelChoice("files", **{**paths, **changes})


# 1 -----------------------------------------------------------------------------------------------------
def test_a_failed_load_brings_back_the_model_that_worked_and_is_not_remembered(make_window, qtbot, config_dir):
    good, attempts = FakeEngine(label="Demo profile"), []

    def loader(request, progress):
        attempts.append(request)
        if request.device == "cuda":
            raise CheckpointError("CUDA was requested but no CUDA GPU is available to PyTorch.")
        return good

    window = make_window(loader=loader, persist=True)
    qtbot.waitUntil(lambda: window.controller.model is not None, timeout=5000)
    window.controller.load_model(ModelChoice(), "cuda", "fp16")
    qtbot.waitUntil(lambda: len(attempts) == 3 and window.controller.model is not None, timeout=5000)
    assert "Could not load" in window.messages.text() and "is loaded again" in window.messages.text()
    assert window.model_status.model.text() == "Demo profile" and not window.cancel_load_action.isEnabled()
    assert load_settings().device == "auto"  # the failing choice is not what the next start loads
    window.controller.load_model(ModelChoice(), "cpu", "fp32")
    qtbot.waitUntil(lambda: load_settings().device == "cpu", timeout=5000)


def test_cuda_is_offered_only_where_there_is_a_gpu(qtbot, monkeypatch):
    import torch

    from ltu_desktop.ui.model_dialog import ModelDialog

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    dialog = ModelDialog(ModelChoice(), "cuda", "auto")
    qtbot.addWidget(dialog)
    assert [dialog.device.itemText(i) for i in range(dialog.device.count())] == ["auto", "cpu"]
    assert dialog.device.currentText() == "auto" and "not available" in dialog.device_note.text()


# 2 and 6 ---------------------------------------------------------------------------------------------------
def test_model_dialog_names_every_problem_at_once_and_clears_fixed_ones(qtbot, tiny_profile, tmp_path):
    from ltu_desktop.ui.model_dialog import ModelDialog

    dialog = ModelDialog(_files(tiny_profile, feature_whisper=""), "cpu", "auto")
    qtbot.addWidget(dialog)
    dialog._accept()  # was: "TypeError: expected str, bytes or os.PathLike object, not NoneType"
    assert dialog.result() == 0
    assert dialog.rows["feature_whisper"].problem.text() == "not chosen"
    assert not dialog.rows["llm"].problem.isVisible() and not dialog.rows["adapter"].problem.text()
    garbage = tmp_path / "notes.pt"
    garbage.write_text("not a checkpoint" * 10)
    dialog.rows["feature_whisper"].edit.setText(str(tiny_profile.adapter))
    dialog.rows["asr_whisper"].edit.setText(str(garbage))
    dialog.rows["adapter"].edit.setText(str(tiny_profile.feature_whisper))
    dialog._accept()
    problems = {k: r.problem.text() for k, r in dialog.rows.items() if r.problem.text()}
    assert set(problems) == {"adapter", "feature_whisper", "asr_whisper"}, problems
    assert "holds no audio modules of a known model" in problems["adapter"] and "not an openai-whisper" in problems["feature_whisper"]
    assert "3 problems" in dialog.problem.text()
    dialog.rows["adapter"].edit.setText(str(tiny_profile.adapter))
    assert not dialog.rows["adapter"].problem.text() and dialog.rows["asr_whisper"].problem.text()


def test_every_precision_of_the_device_is_offered_with_its_memory(qtbot, tiny_profile):
    from importlib.util import find_spec

    from ltu_desktop.ui.model_dialog import ModelDialog

    dialog = ModelDialog(_files(tiny_profile), "cpu", "int8")
    qtbot.addWidget(dialog)
    offered = [dialog.precision.itemData(i) for i in range(dialog.precision.count())]
    assert offered == ["auto", "fp32", "bf16", "int8", *(["nf4"] if find_spec("bitsandbytes") else [])]
    assert all("GiB" in dialog.precision.itemText(i) for i in range(dialog.precision.count()))
    assert dialog.chosen_precision() == "int8" and dialog.precision.itemText(0).startswith("auto (fp32)")


# 3 and 8 -------------------------------------------------------------------------------------------------
def test_the_transcript_panel_shows_the_text_the_model_reads(make_window, qtbot, tone_file):
    window = make_window()
    window.add_files([tone_file])
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: clip.transcript_state == "done", timeout=5000)
    view = window.transcript
    view.begin_edit()
    view.editor.setPlainText("The meeting is on Tuesday.")
    view.finish_edit()
    assert [view.segments.item(i).text() for i in range(view.segments.count())] == ["The meeting is on Tuesday."]
    assert view.banner.isVisible() and view.revert_button.isVisible()
    e = window.controller.ask("When?")
    wait_done(qtbot, e)
    assert e.transcript_used == "The meeting is on Tuesday."
    view.revert()
    assert view.segments.count() == 2 and "Monday" in view.segments.item(0).text()


def test_window_times_and_the_transcript_lines_inside_it(make_window, qtbot, long_file):
    window = make_window()
    window.add_files([long_file])
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: clip.transcript_state == "done" and window.controller.model is not None, timeout=5000)
    assert window.waveform.window_text() == "model hears 0:00.0–0:10.0"
    assert window.transcript.highlighted() == [0, 1]  # both segments (0-3 s) are inside 0-10 s
    window.waveform.set_window_start(20.0)
    assert window.waveform.window_text() == "model hears 0:20.0–0:30.0"
    assert window.transcript.highlighted() == []


def test_the_window_follows_the_models_length(make_window, qtbot, long_file):
    engine = FakeEngine()
    engine.window_seconds = 10.24  # LTU
    window = make_window(engine=engine)
    window.add_files([long_file])
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: window.controller.model is not None and clip.audio is not None, timeout=5000)
    e = window.controller.ask("What is it?")
    wait_done(qtbot, e)
    assert e.window == (0.0, 10.24) and window.waveform.window_length() == pytest.approx(10.24)


def test_a_transcript_reader_records_no_window(make_window, qtbot, long_file):
    window = make_window(engine=FakeEngine(hears_audio=False))
    window.add_files([long_file])
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: window.controller.model is not None and clip.audio is not None, timeout=5000)
    assert window.waveform.window_rect().isEmpty() and "reads the transcript" in window.waveform.window_text()
    assert window.transcript.highlighted() == []
    e = window.controller.ask("What is said?")
    wait_done(qtbot, e)
    assert e.window is None
    message = window.history.conversation(e.conversation_id).messages[0]
    assert message.window is None and message.settings["mode"] == "transcript"


# 4 -------------------------------------------------------------------------------------------------------
def test_transcripts_come_back_after_a_restart_without_running_whisper(make_window, qtbot, tone_file, tmp_path):
    asr = tmp_path / "asr.pt"
    asr.write_bytes(b"x" * 100)
    first = FakeEngine()
    first.profile.asr_whisper = asr
    window = make_window(engine=first)
    window.add_files([tone_file])
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: clip.transcript_state == "done", timeout=5000)
    window.close()
    second = FakeEngine()
    second.profile.asr_whisper = asr
    again = make_window(engine=second)
    qtbot.waitUntil(lambda: again.controller.model is not None, timeout=5000)
    restored = next(iter(again.controller.clips.values()))
    again.controller.select(restored.id)
    qtbot.waitUntil(lambda: restored.transcript_state == "done", timeout=5000)
    assert restored.asr_text() == "The meeting is on Monday. Bring the slides."
    assert not [c for c in second.calls if c[0] == "transcribe"]
    e = again.controller.ask("When?")
    wait_done(qtbot, e)
    assert not [c for c in second.calls if c[0] == "transcribe"]  # the answer used the stored one too


# 5 -------------------------------------------------------------------------------------------------------
def test_stop_acts_only_on_the_visible_conversations_answer(make_window, qtbot, tone_file, long_file):
    window = make_window(engine=FakeEngine(pieces=["word "] * 60, delay=0.03))
    window.add_files([tone_file, long_file])
    a, b = wait_clips(qtbot, window, 2)
    qtbot.waitUntil(lambda: a.audio is not None and b.audio is not None, timeout=5000)
    window.controller.select(a.id)
    e = window.controller.ask("Long answer?")
    qtbot.waitUntil(lambda: e.state == "streaming", timeout=5000)
    assert window.chat.stop_button.isEnabled() and window.stop_action.isEnabled()
    window.controller.select(b.id)
    assert not window.chat.stop_button.isEnabled() and not window.stop_action.isEnabled()
    window.stop_action.trigger()  # Esc in the other clip's chat
    qtbot.wait(100)
    assert e.state == "streaming"
    window.controller.select(a.id)
    assert window.chat.stop_button.isEnabled()
    qtbot.mouseClick(window.chat.stop_button, Qt.MouseButton.LeftButton)
    wait_done(qtbot, e)
    assert e.state == "stopped"


# 7 -------------------------------------------------------------------------------------------------------
@pytest.fixture
def file_server(tmp_path):
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_model_manager_downloads_verifies_removes_and_adds(qtbot, file_server, tiny_profile, tmp_path):
    import hashlib

    from ltu_desktop.models.catalog import Catalog, Models
    from ltu_desktop.ui.model_dialog import ModelDialog

    root, base = file_server
    data = Path(tiny_profile.feature_whisper).read_bytes()
    (root / "w.pt").write_bytes(data)
    catalog = Catalog.parse({
        "default_profile": "p",
        "files": {"w": {"path": "w.pt", "kind": "whisper", "url": f"{base}/w.pt", "approx_size": len(data),
                        "description": "whisper", "sha256": hashlib.sha256(data).hexdigest()}},
        "profiles": {"p": {"label": "P", "builtin": "demo"}, "q": {"label": "Q", "llm": "", "builtin": "demo"}}})
    dialog = ModelDialog(ModelChoice(), "cpu", "auto", models_factory=lambda: Models(tmp_path / "m", catalog))
    qtbot.addWidget(dialog)
    manager = dialog.manager
    qtbot.waitUntil(lambda: manager.files.topLevelItemCount() == 1 and not manager.busy, timeout=5000)
    row = manager.files.topLevelItem(0)
    assert (row.text(0), row.text(3)) == ("w", "missing") and row.text(2).startswith("~")
    manager.files.setCurrentItem(row)
    qtbot.mouseClick(manager.buttons["download"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not manager.busy and manager.files.topLevelItem(0).text(3) == "present", timeout=10000)
    assert (tmp_path / "m" / "w.pt").read_bytes() == data
    manager.files.setCurrentItem(manager.files.topLevelItem(0))
    qtbot.mouseClick(manager.buttons["verify"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not manager.busy and "OK" in manager.stage.text(), timeout=10000)
    manager.add(str(tiny_profile.adapter), "adapter")
    qtbot.waitUntil(lambda: not manager.busy and manager.files.topLevelItemCount() == 2, timeout=10000)
    assert any("(yours)" in manager.files.topLevelItem(i).text(0) for i in range(2))
    manager.files.setCurrentItem(manager.files.topLevelItem(0))
    qtbot.mouseClick(manager.buttons["remove"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not manager.busy and "Removed" in manager.stage.text(), timeout=10000)
    assert not (tmp_path / "m" / "w.pt").exists()


def test_help_has_getting_started_and_about(make_window, qtbot):
    from ltu_desktop.ui.main_window import GETTING_STARTED, about_text

    window = make_window()
    qtbot.waitUntil(lambda: window.controller.model is not None, timeout=5000)
    names = [a.text() for a in window.menuBar().actions()[-1].menu().actions()]
    assert names == ["&Getting Started", "&Keyboard Shortcuts", "&About LTU-AS Desktop"]
    about = about_text(window.controller.model)
    assert "History and recordings" in about and "Models" in about and "ASRU 2023" in about
    assert "Get models" in GETTING_STARTED


# 9 -------------------------------------------------------------------------------------------------------
def test_neutral_until_a_model_is_loaded(make_window, qtbot, tone_file):
    from ltu_desktop.ui.chat_view import NEUTRAL_SUGGESTIONS

    window = make_window(autoload=False)
    window.add_files([tone_file])
    wait_clips(qtbot, window, 1)
    assert "no model loaded" in window.waveform.window_text()
    assert [b.text() for b in window.chat.suggestion_buttons] == list(NEUTRAL_SUGGESTIONS)
    window.load_model()
    qtbot.waitUntil(lambda: window.controller.model is not None, timeout=5000)
    assert window.waveform.window_text().startswith("model hears")


# 10 ------------------------------------------------------------------------------------------------------
def test_tab_goes_clips_waveform_transcript_chat_input(make_window, qtbot, tone_file):
    from ltu_desktop.ui.theme import STYLE

    window = make_window()
    window.add_files([tone_file])
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: clip.transcript_state == "done", timeout=5000)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    window.clip_list.setFocus()
    seen = [QApplication.focusWidget()]
    for _ in range(8):
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        seen.append(QApplication.focusWidget())
    chat = window.chat
    assert seen == [window.clip_list, window.waveform, window.transcript.segments, window.transcript.edit_button,
                    *chat.suggestion_buttons, chat.input]
    assert "#chip:focus" in STYLE and "QToolButton:focus" in STYLE


# 12 ------------------------------------------------------------------------------------------------------
def test_small_things(make_window, qtbot, tone_file, tmp_path):
    window = make_window(engine=FakeEngine(hears_audio=False, pieces=("Call ", "555-1234 ", "now.")))
    assert not window.export_all_action.isEnabled() and not window.export_conversation_action.isEnabled()
    window.add_files([tone_file])
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: clip.audio is not None and window.controller.model is not None, timeout=5000)
    assert not window.cancel_load_action.isEnabled()
    e = window.controller.ask("What number?")
    wait_done(qtbot, e)
    widget = window.chat.widget(e.id)
    assert "555-1234" in widget.grounding.text() and widget.grounding.isVisible()  # 13: not in the transcript
    qtbot.mouseClick(widget.copy_button, Qt.MouseButton.LeftButton)
    assert widget.copy_button.text() == "Copied ✓" and QGuiApplication.clipboard().text() == "Call 555-1234 now."
    assert window.export_all_action.isEnabled() and window.export_conversation_action.isEnabled()
    assert not window.record_bar.button.icon().isNull() and "●" not in window.record_bar.button.text()


def test_thinking_says_reading_for_a_model_that_does_not_listen(qtbot):
    from ltu_desktop.ui.chat_view import READING, ChatView, ExchangeWidget
    from ltu_desktop.ui.session import Exchange

    view = ChatView()
    qtbot.addWidget(view)
    e = Exchange("What?", None, False, state="thinking", settings={"mode": "transcript"})
    assert ExchangeWidget(e, view).answer.text() == READING


def test_waveform_label_and_last_tick(qtbot):
    import numpy as np

    from ltu_desktop.ui.waveform_view import WaveformView

    view = WaveformView()
    qtbot.addWidget(view)
    view.resize(600, 130)
    view.set_clip(np.ones((2, 100), np.float32), 0.6)
    assert view._plot().top() >= view.fontMetrics().height()  # the wave starts below its label
    view.set_clip(np.ones((2, 100), np.float32), 14.75)
    assert view.ticks()[-1] == 14.75 and 14.0 not in view.ticks()


def test_no_speech_answers_export_an_empty_input(make_window, qtbot, tone_file, tmp_path, monkeypatch):
    engine = FakeEngine(hears_audio=False)
    engine.transcribe = lambda audio, on_segment=None: Transcript("", (), "en", True)
    window = make_window(engine=engine)
    window.add_files([tone_file])
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: clip.transcript_state == "done", timeout=5000)
    wait_done(qtbot, window.controller.ask("What is said?"))
    out = tmp_path / "chats.json"
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), "JSON (*.json)"))
    window.export("all")
    assert json.loads(out.read_text())[0]["input"] == ""


def test_engine_errors_use_no_command_line_words():
    from ltu_desktop.engine.precision import resolve_device
    from ltu_desktop.engine.types import EngineError

    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(EngineError) as caught:
        resolve_device("cuda")
    assert "--" not in str(caught.value)


def test_a_click_just_after_rows_moved_does_not_pick_the_wrong_row(make_window, qtbot, tone_file):
    window = make_window()
    window.add_files([tone_file])
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.wait(700)
    tree = window.clip_list
    tree.set_conversation(clip.id, 99, "A question (1)", "")
    target = tree.visualItemRect(tree.topLevelItem(0).child(0)).center()
    before = tree.currentItem()
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(target.x(), target.y()))
    assert tree.currentItem() is before
    qtbot.wait(700)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(target.x(), target.y()))
    assert tree.currentItem() is tree.topLevelItem(0).child(0)


# 13 ------------------------------------------------------------------------------------------------------
def test_a_transcript_reader_answers_greedily_unless_told_otherwise(make_window, qtbot, tone_file):
    engine = FakeEngine(hears_audio=False)
    window = make_window(engine=engine, settings=Settings())
    window.add_files([tone_file])
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: clip.audio is not None, timeout=5000)
    wait_done(qtbot, window.controller.ask("What is said?"))
    settings = [c[3] for c in engine.calls if c[0] == "answer"][-1]
    assert settings.temperature == 0.0
