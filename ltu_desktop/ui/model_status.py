"""The status bar's model corner: which model is loaded where, loading progress, and Cancel."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget


class ModelStatus(QWidget):
    chooseRequested = Signal()
    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stage = QLabel()
        self.stage.setObjectName("muted")
        self.stage.setAccessibleName("Loading stage")
        self.bar = QProgressBar()
        self.bar.setFixedWidth(140)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        self.bar.setAccessibleName("Loading progress")
        self.cancel = QPushButton("Cancel")
        self.cancel.setAccessibleName("Cancel loading")
        self.cancel.setFlat(True)
        self.cancel.clicked.connect(self.cancelRequested)
        self.model = QPushButton("No model")
        self.model.setFlat(True)
        self.model.setAccessibleName("Model")
        self.model.setToolTip("Choose the model (Ctrl+M)")
        self.model.clicked.connect(self.chooseRequested)
        self.details = QLabel()
        self.details.setAccessibleName("Device, precision and memory")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.stage, self.bar, self.cancel, self.model, self.details):
            layout.addWidget(w)
        self.set_loading(False)

    def set_loading(self, loading: bool, label: str = "") -> None:
        for w in (self.stage, self.bar, self.cancel):
            w.setVisible(loading)
        if loading:
            self.bar.setRange(0, 0)
            self.stage.setText("Loading…")
            self.model.setText(label or "Loading…")
            self.details.setText("")

    def set_progress(self, stage: str, fraction: float) -> None:
        self.stage.setText(stage)
        if fraction < 0:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(max(0.0, min(1.0, fraction)) * 1000))

    def set_model(self, label: str, device: str = "", precision: str = "", memory_mb: float = 0.0) -> None:
        """Show the label's short part (before a colon); the whole label is the tooltip."""
        self.set_loading(False)
        self.model.setText(label.split(":")[0].strip())
        self.model.setToolTip(f"{label}\nClick to choose another model (Ctrl+M)")
        parts = [p for p in (device, precision) if p]
        if memory_mb > 0:
            parts.append(f"{memory_mb / 1024:.1f} GB" if memory_mb >= 1024 else f"{memory_mb:.0f} MB")
        self.details.setText(" · ".join(parts))
