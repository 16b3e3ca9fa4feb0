"""Issue 19 in the app: an answer corrected in place and marked "use for training" in the chat is kept in the
history across a restart, the fine-tune dialog trains on the corrected text, and a finished run is a model to
choose, with its training card, that loads."""

from __future__ import annotations

import json
import shutil

from conftest import wait_clips, wait_done, write_tone
from PySide6.QtCore import Qt
from ui_fakes import FakeEngine

from ltu_desktop.models.profiles import DEMO_LABEL
from ltu_desktop.models.runs import runs_folder
from ltu_desktop.settings import ModelChoice, Settings
from ltu_desktop.ui.finetune_dialog import FinetuneDialog
from ltu_desktop.ui.model_dialog import ModelDialog

CORRECTED = "A soft tone at 440 Hz."


def _answered(make_window, qtbot, path):
    window = make_window()
    window.add_files([path])
    wait_clips(qtbot, window, 1)
    e = wait_done(qtbot, window.controller.ask("What is it?"))
    return window, e, window.chat.widget(e.id)


def test_a_corrected_and_marked_answer_is_kept_across_a_restart_and_trained_on(make_window, qtbot, tone_file,
                                                                                tmp_path):
    window, e, w = _answered(make_window, qtbot, tone_file)
    model_answer = e.answer
    assert w.train_button.isVisible() and not w.training.isVisible()
    qtbot.mouseClick(w.train_button, Qt.MouseButton.LeftButton)
    assert w.editor.isVisible() and not w.answer.isVisible() and w.editor.toPlainText() == model_answer
    qtbot.keyClick(w.editor, Qt.Key.Key_Escape)  # gives up; the window's Esc (Stop) is not triggered
    assert not w.editor.isVisible() and w.answer.isVisible() and not e.for_training

    qtbot.mouseClick(w.train_button, Qt.MouseButton.LeftButton)
    w.editor.selectAll()
    qtbot.keyClicks(w.editor, CORRECTED)
    qtbot.keyClick(w.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert w.answer.text() == CORRECTED and w.training_mark.text() == "✓ Used for training · your correction"
    assert model_answer in w.training_mark.toolTip() and not w.train_button.isVisible()
    assert w.a_bubble.property("training") is True
    conversation = e.conversation_id
    window.close()

    again = make_window()
    again.clip_list.select_conversation(conversation)
    clip = again.controller.current
    w = next(iter(again.chat.threads[clip.id].widgets.values()))
    assert w.answer.text() == CORRECTED and w.training_mark.text().startswith("✓ Used for training")
    assert again.history.history.message(w.exchange.message_id).answer == model_answer  # kept beside it

    dialog = FinetuneDialog(None, again.history, runs_folder=tmp_path / "runs")
    qtbot.addWidget(dialog)
    assert dialog.from_chats.isChecked() and dialog.table.item(0, 2).text() == CORRECTED
    assert json.loads(dialog.dataset(tmp_path / "run").read_text())[0]["output"] == CORRECTED

    qtbot.mouseClick(w.drop_button, Qt.MouseButton.LeftButton)  # unmarked: the correction stays, unused
    assert w.training_mark.text() == "Not used for training · your correction" and not w.drop_button.isVisible()
    mark = again.history.history.training_marks()[w.exchange.message_id]
    assert (mark.use, mark.correction) == (False, CORRECTED)
    assert again.history.history.training_items() == []


def test_under_the_demo_marks_are_kept_for_a_model_that_can_be_fine_tuned_and_it_says_so(make_window, qtbot,
                                                                                           tone_file):
    """The demo cannot be fine-tuned: marking stays (the marks wait in the history for an LTU-AS or LTU run), and
    the button, the editor and the first mark say so; a model that can be fine-tuned drops the note."""
    demo = FakeEngine(label=DEMO_LABEL, hears_audio=False, kind="demo")
    engines = iter([demo, FakeEngine(label="LTU-AS (adapter.bin)")])
    window = make_window(loader=lambda request, progress: next(engines))
    window.add_files([tone_file])
    wait_clips(qtbot, window, 1)
    first = wait_done(qtbot, window.controller.ask("What is said?"))
    second = wait_done(qtbot, window.controller.ask("Who speaks?"))
    w = window.chat.widget(first.id)
    assert w.train_button.isVisible() and "Demo cannot be fine-tuned" in w.train_button.toolTip()
    assert "LTU-AS or LTU model" in w.train_button.toolTip()
    qtbot.mouseClick(w.train_button, Qt.MouseButton.LeftButton)
    assert w.hint.text().startswith("Demo cannot be fine-tuned: this answer is kept for fine-tuning an LTU-AS")
    assert w.keep_button.text() == "Keep for Training"
    qtbot.keyClick(w.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert w.training_mark.text() == "✓ Used for training · as the model answered" and w.training_note.isVisible()
    assert w.training_note.text().startswith("Kept for later: Demo cannot be fine-tuned")
    assert [i.message_id for i in window.history.training_items()] == [first.message_id]

    other = window.chat.widget(second.id)
    qtbot.mouseClick(other.train_button, Qt.MouseButton.LeftButton)
    qtbot.keyClick(other.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert other.exchange.for_training and not other.training_note.isVisible()  # said once is enough

    with qtbot.waitSignal(window.controller.modelLoaded, timeout=5000):
        window.load_model()
    assert not w.training_note.isVisible() and w.exchange.for_training  # the marks stay
    assert len(window.history.training_items()) == 2
    third = wait_done(qtbot, window.controller.ask("And then?"))
    assert window.chat.widget(third.id).train_button.toolTip().startswith("Correct this answer if it is wrong and "
                                                                          "use it to fine-tune")


def test_a_finished_run_is_a_model_choice_with_its_card_and_loads(make_window, qtbot, tiny_profile, tmp_path,
                                                                  one_torch_thread, monkeypatch):
    from ltu_desktop.train.loop import Trainer, TrainSettings

    items = [{"audio_id": str(write_tone(tmp_path / f"{n}.wav", 2.0, 16000, 1, freq)), "instruction": "What is it?",
              "input": "", "output": answer} for n, (freq, answer) in enumerate(((300, "A hum."), (900, "A beep.")))]
    (tmp_path / "data.json").write_text(json.dumps(items))
    run = runs_folder() / "hums"  # where the app's dialog puts runs: found without being remembered
    Trainer(tiny_profile, tmp_path / "data.json", run,
            TrainSettings(epochs=2, batch_size=2, micro_batch_size=2, warmup_steps=0, device="cpu")).train()
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    (broken / "training.json").write_text("{not json")
    remembered = [str(tmp_path / "deleted"), str(broken)]

    window = make_window(real=True, autoload=False, settings=Settings(runs=list(remembered)))
    dialog = ModelDialog(window.settings.model, "cpu", "fp32", window, runs=window.settings.runs)
    qtbot.addWidget(dialog)
    box = dialog.runs_box
    labels = [box.list.item(i).text() for i in range(box.list.count())]
    assert labels[0] == "hums (fine-tuned on 2 examples)"
    assert labels[1].startswith("broken (unavailable: its training.json cannot be read (Expecting property name")
    assert labels[2] == "deleted (unavailable: the folder is gone)"
    card = box.card.toPlainText()
    assert card.startswith("hums · LTU-AS · finished") and f"Base: {tiny_profile.adapter.name} on " in card
    for part in ("Data: 2 of 2 item(s) used (2 to train, 0 to validate)", "Training: 2 epoch(s), step 2 of 2",
                 "No validation set: the adapter of step 2", "Date: "):
        assert part in card, card

    dialog.tuned.setChecked(True)
    box.list.setCurrentRow(2)
    dialog._accept()
    assert dialog.result() == 0 and "This run cannot be loaded: the folder is gone" in dialog.problem.text()
    box.forget()  # a remembered run that is gone can be taken off the list
    assert box.remembered == [str(broken)] and box.list.count() == 2

    def choose_hums(self):
        self.tuned.setChecked(True)
        self.runs_box.list.setCurrentRow(0)
        self._accept()
        return self.result()

    monkeypatch.setattr(ModelDialog, "exec", choose_hums)
    with qtbot.waitSignal(window.controller.modelLoaded, timeout=60_000) as loaded:
        window.choose_model()
    assert loaded.args[0].label == "Fine-tuned hums (LTU-AS)"
    assert window.settings.model == ModelChoice(kind="run", run=str(run))
    window.controller.generation = {"temperature": 0.0, "max_new_tokens": 4}
    window.add_files([tmp_path / "0.wav"])
    wait_clips(qtbot, window, 1)
    assert wait_done(qtbot, window.controller.ask("What is it?"), timeout=30_000).state == "done"
