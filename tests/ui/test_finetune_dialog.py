"""The "Fine-tune on my clips" dialog: answers from the conversations, corrected and ticked, become the dataset;
a run shows its loss curve live, cancel stops it with a saved adapter, and the menu opens the dialog."""

from __future__ import annotations

import json
from pathlib import Path
import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt

from ltu_desktop.store.history import History
from ltu_desktop.train.loop import TrainSettings
from ltu_desktop.ui.finetune_dialog import FinetuneDialog
from ltu_desktop.ui.history_bridge import HistoryBridge


def _clip(path: Path, freq: float) -> Path:
    t = np.arange(16000 * 2) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16000)
    return path


@pytest.fixture
def history(tmp_path):
    """Two clips asked about in the history: a hum (one answer, one still streaming) and a beep (one answer)."""
    bridge = HistoryBridge(History(tmp_path / "data"))
    h = bridge.history
    ids = {}
    for name, freq, answers in (("a.wav", 300, ["A hum."]), ("b.wav", 900, ["A beep."])):
        conv = h.new_conversation(h.add_clip(_clip(tmp_path / name, freq), name, 2.0))
        for answer in answers:
            ids[answer] = h.ask(conv, "What is it?", "", (0.0, 2.0), "tiny", "cpu", "fp32", {})
            h.finish(ids[answer], answer)
        h.ask(conv, "More?", "", None, "tiny", "cpu", "fp32", {})  # still streaming: not offered
    bridge.ids = ids
    yield bridge
    bridge.close()


def test_answers_marked_in_the_chat_come_first_with_their_correction(qtbot, tmp_path, tiny_profile, history):
    history.history.mark_for_training(history.ids["A beep."], correction="A smoke alarm beeps.")
    dialog = FinetuneDialog(tiny_profile, history, runs_folder=tmp_path / "runs")
    qtbot.addWidget(dialog)
    assert dialog.from_chats.isChecked() and dialog.table.rowCount() == 2
    assert "1 of 2 answer(s) marked" in dialog.chats_note.text()
    rows = [(dialog.table.item(r, 0).checkState(), dialog.table.item(r, 2).text()) for r in range(2)]
    assert rows == [(Qt.CheckState.Checked, "A smoke alarm beeps."), (Qt.CheckState.Unchecked, "A hum.")]
    items = json.loads(dialog.dataset(tmp_path / "run").read_text())
    assert items == [{"audio_id": str(tmp_path / "b.wav"), "instruction": "What is it?", "input": "",
                      "output": "A smoke alarm beeps."}]


def test_answers_corrected_and_ticked_in_the_dialog_become_the_dataset(qtbot, tmp_path, tiny_profile, history):
    dialog = FinetuneDialog(tiny_profile, history, runs_folder=tmp_path / "runs")
    qtbot.addWidget(dialog)
    assert dialog.from_file.isChecked() and dialog.from_chats.isEnabled()  # nothing marked yet
    assert "none marked yet" in dialog.chats_note.text()
    row = next(r for r in range(2) if dialog.table.item(r, 2).text() == "A hum.")
    dialog.table.item(row, 2).setText("A low hum from a fridge.")  # corrected in place
    dialog.table.item(row, 0).setCheckState(Qt.CheckState.Checked)
    dialog.from_chats.setChecked(True)
    items = json.loads(dialog.dataset(tmp_path / "run").read_text())
    assert items == [{"audio_id": str(tmp_path / "a.wav"), "instruction": "What is it?", "input": "",
                      "output": "A low hum from a fridge."}]


def test_a_run_draws_its_loss_and_cancel_keeps_an_adapter(qtbot, tmp_path, tiny_profile, history,
                                                         one_torch_thread):
    for mid in history.ids.values():
        history.history.mark_for_training(mid)
    dialog = FinetuneDialog(tiny_profile, history, runs_folder=tmp_path / "runs")
    qtbot.addWidget(dialog)
    dialog.from_chats.setChecked(True)
    dialog.run_edit.setText(str(tmp_path / "run"))
    dialog.start(TrainSettings(epochs=4, batch_size=2, micro_batch_size=2, warmup_steps=0, save_steps=100,
                               device="cpu"))
    dialog.worker.step.connect(lambda d: dialog.cancel() if d["step"] == 2 else None)
    qtbot.waitUntil(lambda: dialog.thread is None, timeout=240_000)
    assert [s for s, _ in dialog.curve.points] == [1, 2]
    assert dialog.status.text().startswith("Stopped after 2 step(s)"), dialog.status.text()
    assert dialog.adapter == tmp_path / "run" / "adapter.bin" and dialog.use_button.isEnabled()
    assert "2 of 2 item(s) pass" in dialog.card.toPlainText()


def test_without_an_ltu_as_or_ltu_model_the_dialog_says_what_to_do(qtbot, tmp_path):
    from ltu_desktop.models.tiny import make_tiny_ltu_profile

    dialog = FinetuneDialog(None)
    qtbot.addWidget(dialog)
    assert not dialog.start_button.isEnabled()
    assert "Choose an LTU-AS or LTU model first" in dialog.status.text()
    ltu = FinetuneDialog(make_tiny_ltu_profile(tmp_path / "ltu"))
    qtbot.addWidget(ltu)
    assert ltu.start_button.isEnabled() and ltu.status.text().startswith("Starts from")


def test_menu_opens_the_dialog_and_the_new_run_becomes_the_choice(make_window, tiny_profile, tmp_path,
                                                                  monkeypatch):
    from ltu_desktop.settings import ModelChoice, Settings
    from ltu_desktop.ui import finetune_dialog

    p = tiny_profile
    choice = ModelChoice("files", str(p.llm), str(p.adapter), str(p.feature_whisper), str(p.asr_whisper))
    window = make_window(settings=Settings(model=choice), autoload=False)
    window.load_model = lambda profile=None: loads.append(window.settings.model)
    loads, seen, use = [], [], [False, True]

    def finished_run(dialog):
        seen.append(dialog.profile)
        dialog.run = tmp_path / f"run{len(seen)}"
        dialog.adapter = dialog.run / "adapter.bin"
        return use[len(seen) - 1]

    monkeypatch.setattr(finetune_dialog.FinetuneDialog, "exec", finished_run)
    assert window.finetune_action in window.menuBar().actions()[1].menu().actions()
    window.finetune_action.trigger()  # closed without "Use the New Adapter": listed, not loaded
    assert seen[0].llm == p.llm and seen[0].adapter == p.adapter
    assert window.settings.runs == [str(tmp_path / "run1")] and not loads and window.settings.model == choice
    window.finetune_action.trigger()
    assert window.settings.runs == [str(tmp_path / "run1"), str(tmp_path / "run2")]
    assert loads == [ModelChoice(kind="run", run=str(tmp_path / "run2"))]
