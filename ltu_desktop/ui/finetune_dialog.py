"""Model -> "Fine-tune on My Clips…": train an adapter on a dataset file, or on answers from the conversations
(each corrected in place and ticked "use for training"), on a worker thread with a live loss curve and cancel."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, QPointF, Qt, QThread, Signal, Slot
from PySide6.QtGui import QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPlainTextEdit, QProgressBar, QPushButton, QRadioButton, QSpinBox, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ..engine.types import Profile
from ..train.model import TRAINABLE_KINDS


class LossCurve(QWidget):
    """Training loss per step, scaled to fit; drawn as the steps arrive."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[tuple[int, float]] = []
        self.setMinimumHeight(140)

    def add(self, step: int, loss: float) -> None:
        self.points.append((step, loss))
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().base())
        if len(self.points) < 2:
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "The loss curve appears as training runs.")
            return
        steps = [s for s, _ in self.points]
        losses = [v for _, v in self.points]
        lo, hi = min(losses), max(losses)
        w, h, m = self.width(), self.height(), 8
        span_s, span_l = max(1, steps[-1] - steps[0]), max(1e-9, hi - lo)
        line = QPolygonF([QPointF(m + (s - steps[0]) / span_s * (w - 2 * m), m + (hi - v) / span_l * (h - 2 * m))
                          for s, v in self.points])
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(self.palette().highlight().color(), 2))
        p.drawPolyline(line)
        p.setPen(self.palette().text().color())
        p.drawText(m, m + 12, f"{hi:.3f}")
        p.drawText(m, h - m, f"{lo:.3f}  (step {steps[-1]})")


class TrainWorker(QObject):
    """Runs one training on its own thread; `cancel` stops it after the current step and saves a checkpoint."""

    progress = Signal(str, float)
    step = Signal(dict)
    finished = Signal(dict)
    failed = Signal(str)

    def __init__(self, profile: Profile, data: Path, run: Path, settings) -> None:
        super().__init__()
        self.profile, self.data, self.run, self.settings = profile, data, run, settings
        self.cancel = threading.Event()

    @Slot()
    def work(self) -> None:
        from ..audio.io import AudioError
        from ..engine.types import EngineError
        from ..train.loop import Trainer

        try:
            trainer = Trainer(self.profile, self.data, self.run, self.settings, progress=self.progress.emit,
                              on_step=self.step.emit, cancel=self.cancel)
            result = trainer.train()
        except (EngineError, AudioError, OSError) as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # a worker must report, never die silently
            self.failed.emit(f"Fine-tuning failed: {type(exc).__name__}: {exc}")
            return
        self.finished.emit({"status": result.status, "steps": result.steps, "adapter": str(result.adapter),
                            "run": str(result.run), "summary": result.report.summary()})


def answered_items(history) -> tuple[list[dict], list[bool], int]:
    """Every finished answer in the conversations as a dataset item (audio_id = the clip's file): first those
    marked "use for training" in the chat, with the person's correction as the output, then the others. Also
    which are marked, and how many marked ones were left out because their audio file is gone."""
    marks = history.training_marks()
    marked, others, lost = [], [], 0
    for summary in history.summaries():
        conversation = history.conversation(summary.id)
        if conversation is None:
            continue
        for m in conversation.messages:
            mark = marks.get(m.id)
            use = mark is not None and mark.use
            if not m.answer.strip() or m.status in ("streaming", "failed"):
                continue
            if not conversation.clip.file_exists:
                lost += use
                continue
            output = mark.correction if mark is not None and mark.correction is not None else m.answer
            item = {"audio_id": conversation.clip.path, "instruction": m.question, "input": m.transcript_used,
                    "output": output.strip()}
            (marked if use else others).append((m.id, item))
    marked.sort(key=lambda x: x[0])
    return [item for _, item in marked + others], [True] * len(marked) + [False] * len(others), lost


class FinetuneDialog(QDialog):
    """Pick the data, start, watch the loss, cancel; `adapter` and `run` hold the new adapter and its run folder
    once a run left one (finished, or stopped with a checkpoint)."""

    def __init__(self, profile: Profile | None, history=None, runs_folder: Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune on my clips")
        self.profile = profile
        self.adapter: Path | None = None
        self.run: Path | None = None
        self.thread: QThread | None = None
        self.worker: TrainWorker | None = None
        from ..models.runs import runs_folder as default_runs

        runs = runs_folder or default_runs()
        layout = QVBoxLayout(self)
        self.from_file = QRadioButton("A dataset file (JSON: audio_id, instruction, input, output)")
        self.from_chats = QRadioButton("Answers from my conversations: those marked in the chat are ticked; "
                                       "correct them, tick those to use")
        self.data_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.data_edit)
        row.addWidget(browse)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Use for training", "Question", "Answer (edit to correct)"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.items, marked, lost = answered_items(history) if history is not None else ([], [], 0)
        for item, ticked in zip(self.items, marked):
            self._add_row(item, ticked)
        self.table.resizeColumnToContents(0)
        self.table.setColumnWidth(1, 220)
        self.from_chats.setEnabled(bool(self.items))
        (self.from_chats if any(marked) else self.from_file).setChecked(True)
        self.chats_note = QLabel(self._chats_note(sum(marked), len(self.items), lost))
        self.chats_note.setObjectName("muted")
        self.chats_note.setWordWrap(True)
        form = QFormLayout()
        self.run_edit = QLineEdit(str(runs / time.strftime("run-%Y%m%d-%H%M%S")))
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(3)
        form.addRow("Run folder", self.run_edit)
        form.addRow("Epochs", self.epochs)
        self.curve = LossCurve()
        self.bar = QProgressBar()
        trainable = profile is not None and profile.kind in TRAINABLE_KINDS
        self.status = QLabel(f"Starts from {profile.describe()}." if trainable else
                             "Choose an LTU-AS or LTU model first (Model -> Choose Model…): fine-tuning starts from it.")
        self.status.setWordWrap(True)
        self.card = QPlainTextEdit()
        self.card.setReadOnly(True)
        self.card.setMaximumHeight(110)
        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Start", QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button = self.buttons.addButton("Cancel Training", QDialogButtonBox.ButtonRole.ActionRole)
        self.use_button = self.buttons.addButton("Use the New Adapter", QDialogButtonBox.ButtonRole.AcceptRole)
        close = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.start_button.setEnabled(trainable)
        self.cancel_button.setEnabled(False)
        self.use_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button.clicked.connect(self.accept)
        close.clicked.connect(self.reject)
        for w in (self.from_file,):
            layout.addWidget(w)
        layout.addLayout(row)
        layout.addWidget(self.from_chats)
        layout.addWidget(self.chats_note)
        layout.addWidget(self.table)
        layout.addLayout(form)
        layout.addWidget(self.curve)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(self.card)
        layout.addWidget(self.buttons)
        self.resize(720, 640)

    @staticmethod
    def _chats_note(marked: int, total: int, lost: int) -> str:
        if not total:
            note = ("No answers yet. Ask about your clips, then mark good or corrected answers in the chat with "
                    "“Use for Training…”.")
        elif marked:
            note = f"{marked} of {total} answer(s) marked in the chat for training."
        else:
            note = (f"{total} answer(s), none marked yet: tick them here, or mark them in the chat with "
                    "“Use for Training…”.")
        if lost:
            note += f" {lost} marked answer(s) left out: their audio file is gone."
        return note

    def _add_row(self, item: dict, ticked: bool) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        use = QTableWidgetItem()
        use.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
        use.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
        use.setToolTip(Path(item["audio_id"]).name)
        question = QTableWidgetItem(item["instruction"])
        question.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
        self.table.setItem(r, 0, use)
        self.table.setItem(r, 1, question)
        self.table.setItem(r, 2, QTableWidgetItem(item["output"]))

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Training data", "", "JSON (*.json *.jsonl)")
        if path:
            self.data_edit.setText(path)
            self.from_file.setChecked(True)

    def chosen_items(self) -> list[dict]:
        """The ticked answers, as corrected in the table."""
        chosen = []
        for r, item in enumerate(self.items):
            if self.table.item(r, 0).checkState() == Qt.CheckState.Checked:
                chosen.append({**item, "output": self.table.item(r, 2).text().strip()})
        return chosen

    def dataset(self, run: Path) -> Path:
        if self.from_file.isChecked():
            path = Path(self.data_edit.text().strip()).expanduser()
            if not path.is_file():
                raise ValueError("Choose a dataset file, or use answers from the conversations.")
            return path
        chosen = self.chosen_items()
        if not chosen:
            raise ValueError("Tick at least one answer to use for training.")
        run.mkdir(parents=True, exist_ok=True)
        path = run / "data.json"
        path.write_text(json.dumps(chosen, indent=1))
        return path

    def start(self, settings=None) -> None:
        from ..train.loop import TrainSettings

        run = Path(self.run_edit.text().strip()).expanduser()
        if (run / "training.json").exists():
            self.status.setText(f"{run} already holds a run; choose another folder.")
            return
        try:
            data = self.dataset(run)
        except (ValueError, OSError) as exc:
            self.status.setText(str(exc))
            return
        settings = settings or TrainSettings(epochs=self.epochs.value())
        self.thread = QThread(self)
        self.worker = TrainWorker(self.profile, data, run, settings)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.work)
        self.worker.progress.connect(self._progress)
        self.worker.step.connect(self._step)
        self.worker.finished.connect(self._finished)
        self.worker.failed.connect(self._failed)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText("Starting…")
        self.thread.start()

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel.set()
            self.status.setText("Stopping after this step; a checkpoint is saved…")

    def _progress(self, message: str, fraction: float) -> None:
        self.status.setText(message)

    def _step(self, d: dict) -> None:
        self.curve.add(d["step"], d["loss"])
        self.bar.setRange(0, d["total"])
        self.bar.setValue(d["step"])
        left = time.strftime("%H:%M:%S", time.gmtime(d["eta_s"]))
        self.status.setText(f"Step {d['step']} of {d['total']}: loss {d['loss']:.4f}, "
                            f"{d['samples_per_s']:.2f} samples/s, {left} left")

    def _finished(self, result: dict) -> None:
        self._stop_thread()
        self.adapter = Path(result["adapter"]) if Path(result["adapter"]).is_file() else None
        self.run = Path(result["run"]) if self.adapter is not None else None
        self.use_button.setEnabled(self.adapter is not None)
        self.start_button.setEnabled(True)
        self.status.setText(f"{result['status'].capitalize()} after {result['steps']} step(s); adapter: "
                            f"{result['adapter']}")
        from ..models.runs import read_run

        run = read_run(result["run"])
        self.card.setPlainText(f"{result['summary']}\n{run.describe()}")
        if self.run is not None:  # Start again makes a new run, not a clash with this one
            self.run_edit.setText(str(self.run.parent / time.strftime("run-%Y%m%d-%H%M%S")))

    def _failed(self, message: str) -> None:
        self._stop_thread()
        self.start_button.setEnabled(True)
        self.status.setText(message)

    def _stop_thread(self) -> None:
        self.cancel_button.setEnabled(False)
        if self.thread is not None:
            self.thread.quit()
            self.thread.wait()
            self.thread = None

    def reject(self) -> None:
        if self.worker is not None and self.thread is not None:
            self.cancel()
            self._stop_thread()
        super().reject()
