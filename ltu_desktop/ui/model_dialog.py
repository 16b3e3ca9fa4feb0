"""Choose the model: the demo profile or the person's own LTU-AS files, plus device and precision.

Only existence is checked here; the engine's strict loader validates the files when the
worker loads them, and its message is shown if they are wrong.
"""

from __future__ import annotations

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
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ..settings import DEVICES, PRECISIONS, ModelChoice

DEMO_TEXT = (
    "Small models that come with Python packages (SmolLM2-135M + Whisper tiny.en). "
    "No download. Answers from the speech only, so it cannot describe other sounds."
)

FIELDS = (
    # attribute, label, folder?, file filter, tooltip
    ("llm", "Base LLM folder", True, "",
     "The LLaMA / Vicuna folder in Hugging Face format (config.json, weights, tokenizer)"),
    ("adapter", "Adapter or fine-tune", False, "Checkpoints (*.bin *.pt *.pth *.safetensors);;All files (*)",
     "LTU-AS adapter (LoRA + TLTR + projection) or a full fine-tune, e.g. ltuas_long_noqa_a6.bin"),
    ("feature_whisper", "Whisper for features", False, "Whisper checkpoints (*.pt);;All files (*)",
     "Whisper large-v1 checkpoint whose encoder gives the audio features"),
    ("asr_whisper", "Whisper for transcripts", False, "Whisper checkpoints (*.pt);;All files (*)",
     "Whisper checkpoint used to transcribe speech (optional)"),
)


class PathRow(QWidget):
    def __init__(self, title: str, folder: bool, file_filter: str, tooltip: str) -> None:
        super().__init__()
        self.title, self.folder, self.file_filter = title, folder, file_filter
        self.edit = QLineEdit()
        self.edit.setAccessibleName(title)
        self.edit.setToolTip(tooltip)
        self.edit.setClearButtonEnabled(True)
        self.browse = QPushButton("Browse…")
        self.browse.setAccessibleName(f"Browse for {title}")
        self.browse.clicked.connect(self._browse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.browse)

    def _browse(self) -> None:
        start = self.edit.text()
        if self.folder:
            path = QFileDialog.getExistingDirectory(self, self.title, start)
        else:
            path, _ = QFileDialog.getOpenFileName(self, self.title, start, self.file_filter)
        if path:
            self.edit.setText(path)


class ModelDialog(QDialog):
    def __init__(self, choice: ModelChoice, device: str, precision: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose model")
        self.setMinimumWidth(620)
        self.demo = QRadioButton("Demo profile")
        self.demo.setAccessibleName("Use the demo profile")
        self.files = QRadioButton("My LTU-AS files")
        self.files.setAccessibleName("Use my own LTU-AS files")
        group = QButtonGroup(self)
        group.addButton(self.demo)
        group.addButton(self.files)
        demo_note = QLabel(DEMO_TEXT)
        demo_note.setWordWrap(True)
        demo_note.setObjectName("muted")

        self.rows: dict[str, PathRow] = {}
        self.files_box = QGroupBox()
        form = QFormLayout(self.files_box)
        for attr, title, folder, file_filter, tip in FIELDS:
            row = PathRow(title, folder, file_filter, tip)
            row.edit.setText(getattr(choice, attr))
            form.addRow(title, row)
            self.rows[attr] = row

        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.device.setCurrentText(device)
        self.device.setAccessibleName("Device")
        self.device.setToolTip("auto uses the GPU when PyTorch sees one")
        self.precision = QComboBox()
        self.precision.addItems(PRECISIONS)
        self.precision.setCurrentText(precision)
        self.precision.setAccessibleName("Precision")
        self.precision.setToolTip("auto: fp16 on a GPU, fp32 on the CPU; bf16 is faster on recent CPUs")
        run = QFormLayout()
        run.addRow("Device", self.device)
        run.addRow("Precision", self.precision)

        self.problem = QLabel()
        self.problem.setObjectName("error")
        self.problem.setWordWrap(True)
        self.problem.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Load")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.demo)
        layout.addWidget(demo_note)
        layout.addWidget(self.files)
        layout.addWidget(self.files_box)
        layout.addLayout(run)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.files.toggled.connect(self.files_box.setEnabled)
        (self.files if choice.kind == "files" else self.demo).setChecked(True)
        self.files_box.setEnabled(choice.kind == "files")

    def choice(self) -> ModelChoice:
        if self.demo.isChecked():
            return ModelChoice()
        return ModelChoice(kind="files", **{attr: row.edit.text().strip() for attr, row in self.rows.items()})

    def _accept(self) -> None:
        problems = self.choice().missing()
        if problems:
            self.problem.setText("\n".join(problems))
            self.problem.show()
            return
        self.accept()
