"""The "Fine-tune on my clips" dialog: answers from the conversations, corrected and ticked, become the dataset;
a run shows its loss curve live, cancel stops it with a saved adapter, and the menu opens the dialog."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import soundfile as sf
from PySide6.QtCore import Qt

from ltu_desktop.train.loop import TrainSettings
from ltu_desktop.ui.finetune_dialog import FinetuneDialog


def _clip(path: Path, freq: float) -> Path:
    t = np.arange(16000 * 2) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16000)
    return path


class FakeHistory:
    """Two answered questions about two clips, and one answer that was still streaming (not offered)."""

    def __init__(self, folder: Path) -> None:
        def message(q, a, status="done"):
            return SimpleNamespace(question=q, answer=a, status=status, transcript_used="")

        self.convs = {
            1: SimpleNamespace(clip=SimpleNamespace(path=str(_clip(folder / "a.wav", 300)), file_exists=True),
                               messages=[message("What is it?", "A hum."), message("More?", "Par", "streaming")]),
            2: SimpleNamespace(clip=SimpleNamespace(path=str(_clip(folder / "b.wav", 900)), file_exists=True),
                               messages=[message("What is it?", "A beep.")]),
        }

    def summaries(self):
        return [SimpleNamespace(id=i) for i in self.convs]

    def conversation(self, i):
        return self.convs[i]


def test_answers_corrected_and_ticked_become_the_dataset(qtbot, tmp_path, tiny_profile):
    dialog = FinetuneDialog(tiny_profile, FakeHistory(tmp_path), runs_folder=tmp_path / "runs")
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == 2 and dialog.from_chats.isEnabled()
    dialog.table.item(0, 2).setText("A low hum from a fridge.")  # corrected in place
    dialog.table.item(1, 0).setCheckState(Qt.CheckState.Unchecked)  # not used for training
    dialog.from_chats.setChecked(True)
    data = dialog.dataset(tmp_path / "run")
    items = json.loads(data.read_text())
    assert items == [{"audio_id": str(tmp_path / "a.wav"), "instruction": "What is it?", "input": "",
                      "output": "A low hum from a fridge."}]


def test_a_run_draws_its_loss_and_cancel_keeps_an_adapter(qtbot, tmp_path, tiny_profile):
    dialog = FinetuneDialog(tiny_profile, FakeHistory(tmp_path), runs_folder=tmp_path / "runs")
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


def test_without_an_ltu_as_model_the_dialog_says_what_to_do(qtbot):
    dialog = FinetuneDialog(None)
    qtbot.addWidget(dialog)
    assert not dialog.start_button.isEnabled()
    assert "Choose an LTU-AS model first" in dialog.status.text()


def test_menu_opens_the_dialog_and_the_new_adapter_becomes_the_choice(make_window, tiny_profile, tmp_path,
                                                                      monkeypatch):
    from ltu_desktop.settings import ModelChoice, Settings
    from ltu_desktop.ui import finetune_dialog

    p = tiny_profile
    choice = ModelChoice("files", str(p.llm), str(p.adapter), str(p.feature_whisper), str(p.asr_whisper))
    window = make_window(settings=Settings(model=choice), autoload=False)
    window.load_model = lambda profile=None: loads.append(window.settings.model)
    loads, seen = [], []

    def finished_run(dialog):
        seen.append(dialog.profile)
        dialog.adapter = tmp_path / "run" / "adapter.bin"
        return True

    monkeypatch.setattr(finetune_dialog.FinetuneDialog, "exec", finished_run)
    assert window.finetune_action in window.menuBar().actions()[1].menu().actions()
    window.finetune_action.trigger()
    assert seen[0].llm == p.llm and seen[0].adapter == p.adapter
    assert loads and loads[0].adapter == str(tmp_path / "run" / "adapter.bin")
