"""Record button, level meter, elapsed time and input choice; polls the Qt-free Recorder."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolButton, QWidget

from ..audio.recorder import Recorder, RecorderError, input_devices, refresh_devices
from .waveform_view import clock

POLL_MS = 50


class LevelMeter(QWidget):
    """A horizontal bar; the level decays smoothly so short peaks stay visible."""

    def __init__(self) -> None:
        super().__init__()
        self._level = 0.0
        self.setFixedSize(QSize(90, 12))
        self.setAccessibleName("Input level")

    def set_level(self, level: float) -> None:
        self._level = max(min(1.0, level), self._level * 0.8)
        self.setAccessibleDescription(f"{int(self._level * 100)} percent")
        self.update()

    def level(self) -> float:
        return self._level

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(self.palette().color(QPalette.ColorRole.Mid))
        p.setBrush(self.palette().color(QPalette.ColorRole.Base))
        p.drawRoundedRect(r, 3, 3)
        if self._level > 0:
            color = QColor("#2e9d4f" if self._level < 0.7 else "#d9a400" if self._level < 0.95 else "#d83b3b")
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(color)
            p.drawRoundedRect(QRectF(r.left() + 1, r.top() + 1, (r.width() - 2) * self._level, r.height() - 2), 2, 2)


def dot_icon(color: str = "#e5484d", square: bool = False) -> QIcon:
    """A filled red dot (record) or square (stop) that reads on light and dark themes alike."""
    pixmap = QPixmap(32, 32)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QColor("#ffffff"))
    p.setBrush(QColor(color))
    if square:
        p.drawRoundedRect(QRectF(7, 7, 18, 18), 3, 3)
    else:
        p.drawEllipse(QRectF(5, 5, 22, 22))
    p.end()
    return QIcon(pixmap)


class RecordBar(QWidget):
    """`recorded(path)` when a take ends; `failed(message)` when the microphone or disk fails.
    `new_path()` names each take's file (the history hands out names in the folder it owns)."""

    recorded = Signal(str)
    failed = Signal(str)
    started = Signal()
    stopped = Signal()  # before `recorded` (which a failed take never sends)

    def __init__(self, new_path: Callable[[], Path], device_name: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.new_path = new_path
        self.recorder = Recorder()
        self.button = QToolButton()
        self.button.setText("Record")
        self.button.setIcon(dot_icon())
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setObjectName("record")
        self.button.setCheckable(True)
        self.button.setAccessibleName("Record")
        self.button.setToolTip("Record from the microphone (Ctrl+R)")
        self.button.clicked.connect(self.toggle)
        self.meter = LevelMeter()
        self.elapsed = QLabel(clock(0))
        self.elapsed.setAccessibleName("Recording time")
        self.elapsed.setMinimumWidth(self.elapsed.fontMetrics().horizontalAdvance("00:00.0"))
        self.devices = QComboBox()
        self.devices.setAccessibleName("Microphone")
        self.devices.setToolTip("Input device")
        self.devices.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.devices.setMaximumWidth(220)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.button)
        layout.addWidget(self.meter)
        layout.addWidget(self.elapsed)
        layout.addWidget(self.devices)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._poll)
        self._pressed = 0.0
        self.fill_devices(device_name)
        self.devices.currentIndexChanged.connect(lambda _: self.arm())

    def arm(self) -> None:
        """Open the chosen input ahead of the press (see Recorder.arm); a failure waits for the press to report."""
        if self.devices.isEnabled() and not self.recorder.recording:
            try:
                self.recorder.arm(self.device_name() or None)
            except RecorderError:
                pass

    def showEvent(self, event) -> None:
        super().showEvent(event)
        QTimer.singleShot(300, self.arm)  # after the window is drawn: opening a device can take a second

    def fill_devices(self, wanted: str = "") -> None:
        """List inputs; the remembered one is selected if still there."""
        self.devices.clear()
        try:
            devices = input_devices()
        except RecorderError as exc:
            self.devices.addItem("No audio input")
            self.devices.setEnabled(False)
            self.devices.setToolTip(str(exc))
            return
        self.devices.setEnabled(bool(devices))
        if not devices:
            self.devices.addItem("No microphone")
            return
        for d in devices:
            self.devices.addItem(d.name + (" (default)" if d.is_default else ""), d.name)
        names = [d.name for d in devices]
        default = next((i for i, d in enumerate(devices) if d.is_default), 0)
        self.devices.setCurrentIndex(names.index(wanted) if wanted in names else default)

    def device_name(self) -> str:
        return self.devices.currentData() or ""

    def toggle(self) -> None:
        if self.recorder.recording:
            self.stop()
        else:
            self.start()

    def start(self) -> None:
        try:
            path = self.new_path()
            if not self.devices.isEnabled():
                refresh_devices()
                self.fill_devices()
            self._pressed = time.monotonic()
            self.recorder.start(path, self.device_name() or None)
        except RecorderError as exc:
            self.button.setChecked(False)
            self.failed.emit(str(exc))
            return
        self.button.setChecked(True)
        self.button.setText("Stop")
        self.button.setIcon(dot_icon("#ffffff", square=True))
        self.elapsed.setText(clock(0))
        self.button.setAccessibleName("Stop recording")
        self.devices.setEnabled(False)
        self.timer.start()
        self.started.emit()

    def stop(self) -> None:
        self.timer.stop()
        self.button.setChecked(False)
        self.button.setText("Record")
        self.button.setIcon(dot_icon())
        self.button.setAccessibleName("Record")
        self.devices.setEnabled(True)
        self.meter.set_level(0)
        try:
            path = self.recorder.stop()
        except RecorderError as exc:
            self.stopped.emit()
            self.failed.emit(str(exc))
            return
        self.stopped.emit()
        problem = self.recorder.error or self.recorder.warning
        if problem:
            self.failed.emit(problem)
        self.recorded.emit(str(path))
        self.arm()

    def close_input(self) -> None:
        if self.recorder.recording:
            self.stop()
        self.recorder.disarm()

    def _poll(self) -> None:
        """The time runs from the press; the samples' own count takes over once they are there."""
        self.meter.set_level(self.recorder.level)
        self.elapsed.setText(clock(max(self.recorder.elapsed, time.monotonic() - self._pressed - 0.1)))
        if self.recorder.error:
            self.stop()
