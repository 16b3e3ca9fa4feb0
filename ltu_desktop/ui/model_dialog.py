"""Choose the model: the demo profile, the person's own LTU-AS or LTU files, or a fine-tuning run (its base files
with its adapter, shown with its training card), plus device and precision; and a tab that gets the released files
(model_manager).

Every field is checked before anything loads, and every problem is shown at once beside its field: a path
that is empty or not there, then each file's structure by the engine's strict checks (no 13 GB load). What
only a full load can find (an adapter made for another LLM) comes back from the worker; a failed load
leaves the model that worked running. Only the devices this machine has are offered, and each precision the
engine offers there, with its memory estimate for the chosen files.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..settings import ModelChoice
from .model_manager import ModelManager

DEMO_TEXT = (
    "Small models that come with Python packages (SmolLM2-135M + Whisper tiny.en). "
    "No download. Answers from the speech only, so it cannot describe other sounds."
)

FIELDS = (
    # attribute, label, folder?, file filter, tooltip
    ("llm", "Base LLM folder", True, "",
     "The LLaMA / Vicuna folder in Hugging Face format (config.json, weights, tokenizer)"),
    ("adapter", "Adapter or fine-tune", False, "Checkpoints (*.bin *.pt *.pth *.safetensors);;All files (*)",
     "LTU-AS or LTU adapter or full fine-tune (the file says which), e.g. ltuas_long_noqa_a6.bin, ltu_ori_paper.bin"),
    ("feature_whisper", "Whisper for features", False, "Whisper checkpoints (*.pt);;All files (*)",
     "LTU-AS only: the Whisper large-v1 checkpoint whose encoder gives the audio features"),
    ("asr_whisper", "Whisper for transcripts", False, "Whisper checkpoints (*.pt);;All files (*)",
     "Whisper checkpoint used to transcribe speech (optional: the feature Whisper is used)"),
)


KINDS = {"llm": "llm", "adapter": "adapter", "feature_whisper": "whisper", "asr_whisper": "whisper"}


class PathRow(QWidget):
    """A path with Browse, and the problem found with it underneath (cleared as soon as it is edited)."""

    def __init__(self, title: str, folder: bool, file_filter: str, tooltip: str) -> None:
        super().__init__()
        self.title, self.folder, self.file_filter = title, folder, file_filter
        self.problem = QLabel()
        self.problem.setObjectName("error")
        self.problem.setWordWrap(True)
        self.problem.hide()
        self.edit = QLineEdit()
        self.edit.setAccessibleName(title)
        self.edit.setToolTip(tooltip)
        self.edit.setClearButtonEnabled(True)
        self.browse = QPushButton("Browse…")
        self.browse.setAccessibleName(f"Browse for {title}")
        self.browse.clicked.connect(self._browse)
        self.edit.textChanged.connect(lambda _: self.set_problem(""))
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        row = QHBoxLayout()
        row.addWidget(self.edit, 1)
        row.addWidget(self.browse)
        box.addLayout(row)
        box.addWidget(self.problem)

    def set_problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.setVisible(bool(text))
        self.edit.setProperty("invalid", bool(text))
        self.edit.setAccessibleDescription(text)

    def _browse(self) -> None:
        start = self.edit.text()
        if self.folder:
            path = QFileDialog.getExistingDirectory(self, self.title, start)
        else:
            path, _ = QFileDialog.getOpenFileName(self, self.title, start, self.file_filter)
        if path:
            self.edit.setText(path)


class RunsBox(QGroupBox):
    """The fine-tuning runs to choose from, each with its training card; runs that cannot be loaded are listed
    with the reason. `remembered` is the settings' list of run folders (Add and Forget change it)."""

    def __init__(self, remembered: list[str], chosen: str = "") -> None:
        super().__init__()
        self.remembered = list(remembered)
        self.list = QListWidget()
        self.list.setAccessibleName("Fine-tuned runs")
        self.list.setMaximumHeight(self.list.fontMetrics().lineSpacing() * 4 + 12)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.card = QPlainTextEdit()  # a label this tall is clipped when the dialog is short; this scrolls
        self.card.setReadOnly(True)
        self.card.setAccessibleName("Training card")
        self.card.setFixedHeight(self.card.fontMetrics().lineSpacing() * 8 + 12)
        add = QPushButton("Add Run Folder…")
        add.setToolTip("A run folder made elsewhere, e.g. by `ltu-desktop finetune --out FOLDER`")
        add.clicked.connect(lambda: self.add())
        self.forget_button = QPushButton("Forget")
        self.forget_button.setToolTip("Take this run off the list (its folder is not touched)")
        self.forget_button.clicked.connect(self.forget)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(self.forget_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(self.card)
        layout.addLayout(buttons)
        self.list.currentItemChanged.connect(lambda *_: self._show())
        self.fill(chosen)

    def fill(self, chosen: str = "") -> None:
        from ..models.runs import find_runs

        wanted = [*self.remembered, chosen] if chosen and chosen not in self.remembered else self.remembered
        self.cards = {str(c.path): c for c in find_runs(wanted)}
        self.list.clear()
        for key, card in self.cards.items():
            item = QListWidgetItem(card.label())
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setToolTip(card.describe())
            if not card.available:
                item.setForeground(self.palette().placeholderText())
            self.list.addItem(item)
            if chosen and Path(key) == Path(chosen):
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        self._show()

    def selected(self) -> str:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else ""

    def _show(self) -> None:
        card = self.cards.get(self.selected())
        self.card.setPlainText(card.describe() if card else
                               "No fine-tuned runs yet: Model > Fine-tune on My Clips makes one, and it is listed here.")
        self.forget_button.setEnabled(card is not None and str(card.path) in self.remembered)

    def add(self, path: str | None = None) -> None:
        path = path or QFileDialog.getExistingDirectory(self, "A fine-tuning run folder")
        if path:
            if path not in self.remembered:
                self.remembered.append(path)
            self.fill(path)

    def forget(self) -> None:
        key = self.selected()
        if key in self.remembered:
            self.remembered.remove(key)
            self.fill()


class ModelDialog(QDialog):
    def __init__(self, choice: ModelChoice, device: str, precision: str, parent: QWidget | None = None,
                 models_factory=None, runs: list[str] | None = None, transcripts: str = "auto") -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose model")
        self.setMinimumWidth(680)
        self.demo = QRadioButton("Demo profile")
        self.demo.setAccessibleName("Use the demo profile")
        self.files = QRadioButton("My own files (LTU-AS or LTU)")
        self.files.setAccessibleName("Use my own LTU-AS or LTU files")
        self.tuned = QRadioButton("A fine-tuned adapter (Model > Fine-tune on My Clips)")
        self.tuned.setAccessibleName("Use a fine-tuned adapter")
        group = QButtonGroup(self)
        for b in (self.demo, self.files, self.tuned):
            group.addButton(b)
        self.runs_box = RunsBox(runs or [], choice.run if choice.kind == "run" else "")
        self.runs_box.list.currentItemChanged.connect(lambda *_: self._estimate())
        demo_note = QLabel(DEMO_TEXT)
        demo_note.setWordWrap(True)
        demo_note.setObjectName("muted")

        self.rows: dict[str, PathRow] = {}
        self.files_box = QGroupBox()
        form = QFormLayout(self.files_box)
        files = choice
        if choice.kind == "run":  # the run's base files, for a person who switches to "My own files"
            from ..models.runs import read_run

            files = ModelChoice("files", **{k: v for k, v in read_run(choice.run).base.items() if k in KINDS})
        for attr, title, folder, file_filter, tip in FIELDS:
            row = PathRow(title, folder, file_filter, tip)
            row.edit.setText(getattr(files, attr))
            row.edit.editingFinished.connect(self._estimate)
            form.addRow(title, row)
            self.rows[attr] = row

        from ..engine import precision as precision_mod

        self.device = QComboBox()
        self.device.addItems(precision_mod.devices())
        self.device.setAccessibleName("Device")
        self.device.setToolTip("auto uses the GPU when PyTorch sees one; CUDA is listed only when it does")
        self.device_note = QLabel()
        self.device_note.setObjectName("note")
        self.device_note.setWordWrap(True)
        self.device_note.hide()
        if self.device.findText(device) < 0:
            self.device_note.setText(f"The remembered device “{device}” is not available on this machine.")
            self.device_note.show()
        self.device.setCurrentText(device if self.device.findText(device) >= 0 else "auto")
        self.precision = QComboBox()
        self.precision.setAccessibleName("Precision")
        self.precision.setToolTip("Memory needed for the chosen files in each precision. auto: fp16 on a GPU, "
                                  "fp32 on the CPU; int8 and nf4 let the 7B model fit in less memory")
        self._wanted_precision = precision
        run = QFormLayout()
        run.addRow("Device", self.device)
        run.addRow("", self.device_note)
        run.addRow("Precision", self.precision)
        from ..models.transcripts import LABELS

        self.transcripts = QComboBox()
        self.transcripts.setAccessibleName("Transcripts")
        self.transcripts.setToolTip("CTranslate2 transcribes large Whisper models ~1.6x faster than openai-whisper "
                                    "on a CPU (converted once, then reused); openai-whisper words them exactly as "
                                    "the authors' runs did. The demo always uses openai-whisper under Automatic.")
        for name, label in LABELS.items():
            self.transcripts.addItem(label, name)
        self.transcripts.setCurrentIndex(max(0, self.transcripts.findData(transcripts)))
        run.addRow("Transcripts", self.transcripts)

        self.problem = QLabel()
        self.problem.setObjectName("error")
        self.problem.setWordWrap(True)
        self.problem.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.load_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.load_button.setText("Load")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)

        use = QWidget()
        layout = QVBoxLayout(use)
        layout.addWidget(self.demo)
        layout.addWidget(demo_note)
        layout.addWidget(self.files)
        layout.addWidget(self.files_box)
        layout.addWidget(self.tuned)
        layout.addWidget(self.runs_box)
        layout.addLayout(run)
        layout.addStretch(1)
        self.manager = ModelManager(models_factory)
        self.manager.useProfile.connect(self.use_paths)
        self.tabs = QTabWidget()
        self.tabs.addTab(use, "Model")
        self.tabs.addTab(self.manager, "Get models")
        outer = QVBoxLayout(self)
        outer.addWidget(self.tabs, 1)
        outer.addWidget(self.problem)
        outer.addWidget(buttons)
        self.files.toggled.connect(self.files_box.setEnabled)
        self.files.toggled.connect(lambda _: self._estimate())
        self.tuned.toggled.connect(self.runs_box.setEnabled)
        self.tuned.toggled.connect(lambda _: self._estimate())
        self.device.currentTextChanged.connect(lambda _: self._estimate())
        {"files": self.files, "run": self.tuned}.get(choice.kind, self.demo).setChecked(True)
        self.files_box.setEnabled(choice.kind == "files")
        self.runs_box.setEnabled(choice.kind == "run")
        self._estimate()

    @property
    def remembered_runs(self) -> list[str]:
        return self.runs_box.remembered

    def choice(self) -> ModelChoice:
        if self.demo.isChecked():
            return ModelChoice()
        if self.tuned.isChecked():
            return ModelChoice(kind="run", run=self.runs_box.selected())
        return ModelChoice(kind="files", **{attr: row.edit.text().strip() for attr, row in self.rows.items()})

    def chosen_precision(self) -> str:
        return self.precision.currentData() or "auto"

    def chosen_transcripts(self) -> str:
        return self.transcripts.currentData() or "auto"

    def use_paths(self, paths: dict) -> None:
        """Fill in a complete profile's files (from the Get models tab) and come back here."""
        self.files.setChecked(True)
        for attr, path in paths.items():
            self.rows[attr].edit.setText(path)
        self.tabs.setCurrentIndex(0)
        self._estimate()

    def _profile(self):
        """The engine Profile of the choice as far as it can be built without loading (None: not yet)."""
        from ..engine.types import Profile

        choice = self.choice()
        if choice.kind == "demo":
            from ..models.demo_assets import LLM_ENTRY, demo_cache_dir

            folder = demo_cache_dir()
            return Profile("demo", folder / LLM_ENTRY, folder / "whisper-tiny.en.pt", kind="demo")
        if choice.kind == "run":
            card = self.runs_box.cards.get(choice.run)
            if card is None or not card.available:
                return None
            from ..models.profiles import run_profile

            return run_profile(card.path)
        if not choice.llm or not Path(choice.llm, "config.json").is_file():
            return None
        from ..models.profiles import profile_from_paths

        return profile_from_paths(choice.llm, choice.adapter or choice.llm, choice.feature_whisper or choice.llm,
                                  choice.asr_whisper or None)

    def _estimate(self) -> None:
        """Every precision offered on the chosen device, each with the memory the chosen files need in it."""
        from ..engine import precision as precision_mod
        from ..engine.engine import memory_options

        wanted = self.precision.currentData() or self._wanted_precision
        device = self.device.currentText()
        profile = self._profile()
        try:
            options = memory_options(profile, device) if profile is not None else {
                p: None for p in precision_mod.offered(device)}
        except Exception as exc:  # an unknown device (EngineError): say so, offer auto
            self.device_note.setText(str(exc))
            self.device_note.show()
            options = {"auto": None}
        self.precision.blockSignals(True)
        self.precision.clear()
        for name, estimate in options.items():
            resolved = precision_mod.plan(device, name).precision if name == "auto" else ""
            label = f"auto ({resolved})" if resolved else name
            if estimate is not None:
                fits = "" if estimate.fits else "  – does not fit"
                label += f"  –  about {estimate.total_mb / 1024:.1f} GiB{fits}"
            self.precision.addItem(label, name)
        index = self.precision.findData(wanted)
        self.precision.setCurrentIndex(max(0, index))
        self.precision.blockSignals(False)

    def problems(self) -> dict[str, str]:
        """Every problem of every field: first the paths, then each present file by the strict checks."""
        choice = self.choice()
        if choice.kind == "run":
            from ..models.runs import read_run

            problem = read_run(choice.run).problem if choice.run else "choose one of the runs, or make one with " \
                "Model > Fine-tune on My Clips"
            return {"run": problem} if problem else {}
        problems = choice.problems()
        if choice.kind == "demo":
            return problems
        from ..engine.checkpoints import validate_file

        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            for attr, kind in KINDS.items():
                value = getattr(choice, attr)
                if value and attr not in problems:
                    try:
                        validate_file(Path(value), kind)
                    except Exception as exc:  # CheckpointError, or whatever a broken file throws
                        problems[attr] = str(exc)
        finally:
            QGuiApplication.restoreOverrideCursor()
        if "adapter" not in problems and choice.adapter:
            from ..engine.engine import family_of_adapter

            ltu = family_of_adapter(Path(choice.adapter)) == "ltu"  # LTU hears through its own encoder
            if ltu and choice.feature_whisper:
                problems["feature_whisper"] = "LTU hears through its own encoder: leave this empty"
            elif not ltu and not choice.feature_whisper:
                problems["feature_whisper"] = "not chosen"
        return problems

    def _accept(self) -> None:
        problems = self.problems()
        for attr, row in self.rows.items():
            row.set_problem(problems.get(attr, ""))
        if "run" in problems:
            self.problem.setText(f"This run cannot be loaded: {problems['run']}. Nothing was loaded.")
            self.problem.show()
            self.tabs.setCurrentIndex(0)
            return
        if problems:
            n = len(problems)
            self.problem.setText(f"{n} problem{'s' if n > 1 else ''} with the chosen files: see the marked "
                                 f"field{'s' if n > 1 else ''}. Nothing was loaded.")
            self.problem.show()
            self.tabs.setCurrentIndex(0)
            return
        self.problem.hide()
        self.accept()

    def done(self, result: int) -> None:
        self.manager.close_worker()
        super().done(result)
