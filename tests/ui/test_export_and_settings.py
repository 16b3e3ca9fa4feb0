"""Export of chats, the model dialog, and settings that survive a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import wait_clips, wait_done
from PySide6.QtWidgets import QDialog, QFileDialog

from ltu_desktop.batch.runner import read_items
from ltu_desktop.settings import ModelChoice, Settings, load_settings, save_settings, settings_path
from ltu_desktop.ui.model_dialog import ModelDialog


def two_answered_clips(make_window, qtbot, tone_file, long_file):
    window = make_window()
    window.add_files([tone_file])
    tone = wait_clips(qtbot, window, 1)[0]
    wait_done(qtbot, window.controller.ask("What is it?"))
    window.add_files([long_file])
    long = [c for c in wait_clips(qtbot, window, 2) if c is not tone][0]
    window.waveform.set_window_start(5.0)
    wait_done(qtbot, window.controller.ask("And this one?"))
    return window, tone, long


def test_export_all_chats_to_json_and_markdown(make_window, qtbot, tone_file, long_file, tmp_path, monkeypatch):
    window, tone, long = two_answered_clips(make_window, qtbot, tone_file, long_file)
    target = {"path": str(tmp_path / "all.json"), "filter": "JSON (*.json)"}
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (target["path"], target["filter"])))
    window.export_all_action.trigger()
    data = read_items(tmp_path / "all.json")
    assert [Path(m["audio_id"]).name for m in data] == ["tone.wav", "long.flac"]
    first = data[0]
    assert first["instruction"] == "What is it?" and first["pred"] == "The speaker sounds calm."
    assert first["input"] == "The meeting is on Monday. Bring the slides." and first["status"] == "complete"
    assert first["model"] == "Fake model" and first["device"] == "cpu" and first["precision"] == "fp32"
    assert first["settings"]["temperature"] == 0.1 and "tokens_per_s" in first["stats"] and first["asked_at"]
    assert data[1]["window_s"] == [5.0, 15.0]

    target.update(path=str(tmp_path / "all"), filter="Markdown (*.md)")
    md = window.export("all").read_text()
    assert md.startswith("# ltu-desktop conversations") and "## tone.wav" in md and "## long.flac" in md
    assert "### 1. What is it?" in md and "> The speaker sounds calm." in md and "Fake model · cpu · fp32" in md


def test_export_this_conversation_only(make_window, qtbot, tone_file, long_file, tmp_path, monkeypatch):
    window, tone, long = two_answered_clips(make_window, qtbot, tone_file, long_file)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(tmp_path / "one.md"), "")))
    window.export_conversation_action.trigger()
    md = (tmp_path / "one.md").read_text()
    assert "## long.flac" in md and "tone.wav" not in md


def test_export_the_selected_rows(make_window, qtbot, tone_file, long_file, tmp_path, monkeypatch):
    window, tone, long = two_answered_clips(make_window, qtbot, tone_file, long_file)
    window.clip_list.select(tone.id)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(tmp_path / "sel.json"), "")))
    window.export_selected_action.trigger()
    assert [m["instruction"] for m in read_items(tmp_path / "sel.json")] == ["What is it?"]


def test_nothing_to_export_says_so(make_window, qtbot, tone_file, monkeypatch):
    window = make_window()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: pytest.fail("no dialog expected")))
    assert window.export("all") is None and "no conversation to export" in window.messages.text()
    window.add_files([tone_file])
    wait_clips(qtbot, window, 1)
    assert window.export("conversation") is None


def test_a_stopped_answer_is_exported_as_stopped(make_window, qtbot, tone_file, tmp_path):
    from ui_fakes import FakeEngine

    from ltu_desktop.store.export import to_json, to_markdown
    from ltu_desktop.ui.export import session_conversations

    window = make_window(engine=FakeEngine(pieces=[f"w{i} " for i in range(50)], delay=0.03))
    window.add_files([tone_file])
    clip = wait_clips(qtbot, window, 1)[0]
    e = window.controller.ask("Long answer?")
    qtbot.waitUntil(lambda: "w2" in e.answer, timeout=5000)
    window.controller.stop()
    wait_done(qtbot, e)
    for conversations in (session_conversations([clip]), window.history.history.conversations()):
        record = json.loads(to_json(conversations))[0]
        assert record["status"] == "stopped" and record["pred"].startswith("w0 w1 w2") and record["pred"] == e.answer
        assert "**Answer** (stopped)" in to_markdown(conversations)


def test_model_dialog_returns_the_files_and_refuses_missing_ones(qtbot, tmp_path, tiny_profile):
    dialog = ModelDialog(ModelChoice(), "auto", "auto")
    qtbot.addWidget(dialog)
    assert dialog.demo.isChecked() and not dialog.files_box.isEnabled()
    dialog.files.setChecked(True)
    dialog.rows["llm"].edit.setText(str(tiny_profile.llm))
    dialog.rows["adapter"].edit.setText(str(tmp_path / "missing.bin"))
    dialog.rows["feature_whisper"].edit.setText(str(tiny_profile.feature_whisper))
    dialog._accept()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert "does not exist" in dialog.rows["adapter"].problem.text()
    dialog.rows["adapter"].edit.setText(str(tiny_profile.adapter))
    dialog.device.setCurrentText("cpu")
    dialog.precision.setCurrentIndex(dialog.precision.findData("bf16"))
    dialog._accept()
    assert dialog.result() == QDialog.DialogCode.Accepted and dialog.chosen_precision() == "bf16"
    assert dialog.choice() == ModelChoice("files", str(tiny_profile.llm), str(tiny_profile.adapter),
                                          str(tiny_profile.feature_whisper), "")


def test_model_dialog_browse_uses_native_file_dialogs(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a: str(tmp_path)))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a: (str(tmp_path / "a.pt"), "")))
    dialog = ModelDialog(ModelChoice("files"), "auto", "auto")
    qtbot.addWidget(dialog)
    dialog.rows["llm"].browse.click()
    dialog.rows["feature_whisper"].browse.click()
    assert dialog.rows["llm"].edit.text() == str(tmp_path)
    assert dialog.rows["feature_whisper"].edit.text() == str(tmp_path / "a.pt")


def test_choosing_a_model_loads_it_in_the_worker_and_is_remembered(make_window, qtbot, tmp_path, monkeypatch):
    from ui_fakes import FakeEngine, loader_for

    adapter = tmp_path / "a.bin"
    adapter.write_bytes(b"x")
    choice = ModelChoice("files", str(tmp_path), str(adapter), "", "")
    monkeypatch.setattr(ModelDialog, "exec", lambda self: True)
    monkeypatch.setattr(ModelDialog, "choice", lambda self: choice)
    loader = loader_for(FakeEngine(label="LTU-AS (a.bin)"))
    window = make_window(loader=loader, persist=True)
    qtbot.waitUntil(lambda: window.controller.model is not None, timeout=5000)
    with qtbot.waitSignal(window.controller.modelLoaded, timeout=5000):
        window.model_action.trigger()
    assert loader.requests[-1].choice == choice
    assert window.model_status.model.text() == "LTU-AS (a.bin)"
    assert load_settings().model == choice


def test_the_transcript_backend_is_chosen_in_the_model_dialog_and_remembered(make_window, qtbot, tmp_path,
                                                                             monkeypatch):
    from ui_fakes import FakeEngine, loader_for

    dialog = ModelDialog(ModelChoice(), "auto", "auto", transcripts="openai-whisper")
    qtbot.addWidget(dialog)
    assert dialog.transcripts.currentText().startswith("openai-whisper (the authors' transcripts exactly)")
    assert [dialog.transcripts.itemData(i) for i in range(dialog.transcripts.count())] == \
        ["auto", "openai-whisper", "ctranslate2"]
    monkeypatch.setattr(ModelDialog, "exec", lambda self: True)
    monkeypatch.setattr(ModelDialog, "chosen_transcripts", lambda self: "ctranslate2")
    loader = loader_for(FakeEngine(label="Demo"))
    window = make_window(loader=loader, persist=True)
    qtbot.waitUntil(lambda: window.controller.model is not None, timeout=5000)
    assert loader.requests[-1].transcripts == "auto"
    with qtbot.waitSignal(window.controller.modelLoaded, timeout=5000):
        window.model_action.trigger()
    assert loader.requests[-1].transcripts == "ctranslate2"
    assert load_settings().transcripts == "ctranslate2"


def test_settings_round_trip_and_survive_a_damaged_file(config_dir):
    s = Settings(device="cpu", precision="bf16", transcripts="openai-whisper", theme="dark", model=ModelChoice("files", "/m", "/a.bin", "/f.pt", ""))
    s.splitters = {"main": "AAA="}
    s.generation = {"temperature": 0.0, "max_new_tokens": 64}
    save_settings(s)
    assert settings_path().parent == config_dir
    assert load_settings() == s
    settings_path().write_text("{not json")
    assert load_settings() == Settings()
    nonsense = {"device": "tpu", "theme": 3, "model": {"kind": "weird"}, "generation": {"x": "y"}}
    settings_path().write_text(json.dumps(nonsense))
    assert load_settings() == Settings()


def test_window_size_and_splitters_are_remembered(make_window, qtbot, config_dir):
    from ltu_desktop.ui.main_window import MainWindow

    window = make_window(persist=True)
    window.resize(760, 540)
    window.lower_split.setSizes([200, 400])
    sizes = window.lower_split.sizes()
    window.close()
    saved = load_settings()
    assert saved.geometry and set(saved.splitters) == {"main", "right", "lower"}
    again = MainWindow(saved, autoload=False, persist=False)
    qtbot.addWidget(again)
    again.show()
    assert (again.width(), again.height()) == (760, 540)
    assert again.lower_split.sizes() == sizes
    again.close()


def test_theme_choice_is_applied_and_remembered(make_window, config_dir):
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    window = make_window(persist=True)
    window.theme_actions["dark"].trigger()
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 100
    assert load_settings().theme == "dark"
    window.theme_actions["light"].trigger()
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() > 200
