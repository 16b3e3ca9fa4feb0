"""Play / pause the selected clip or just its window; polls the Qt-free Player for the playhead."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QStyle, QToolButton, QWidget

from ..audio.playback import PlaybackError, Player
from .waveform_view import clock

POLL_MS = 40


class PlayerBar(QWidget):
    """`position(t | None)` while playing (None when it ends); `failed(message)` without speakers."""

    position = Signal(object)
    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.player = Player()
        self._samples = None
        self._duration = 0.0
        self._resume_at = 0.0
        self._end: float | None = None
        style = self.style()
        self.play_button = QToolButton()
        self.play_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_button.setText("Play")
        self.play_button.setAccessibleName("Play or pause")
        self.play_button.setToolTip("Play / pause the clip (Ctrl+P)")
        self.play_button.clicked.connect(self.toggle)
        self.window_button = QToolButton()
        self.window_button.setText("Play window")
        self.window_button.setAccessibleName("Play the 10-second window")
        self.window_button.setToolTip("Play only the part the model hears")
        self.time = QLabel("–")
        self.time.setObjectName("muted")
        self.time.setAccessibleName("Playback time")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.play_button)
        layout.addWidget(self.window_button)
        layout.addWidget(self.time)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._poll)
        self.set_clip(None, 0.0)

    def set_clip(self, samples, duration: float) -> None:
        self.stop()
        self._samples, self._duration, self._resume_at = samples, duration, 0.0
        for b in (self.play_button, self.window_button):
            b.setEnabled(samples is not None)
        self.time.setText(f"{clock(0)} / {clock(duration)}" if samples is not None else "–")

    def toggle(self) -> None:
        if self.player.playing:
            self._resume_at = self.player.pause()
            self._stopped()
        else:
            self.play(self._resume_at if self._resume_at < self._duration - 0.05 else 0.0)

    def play(self, start: float, end: float | None = None) -> None:
        if self._samples is None:
            return
        try:
            self.player.play(self._samples, start, end)
        except PlaybackError as exc:
            self.failed.emit(str(exc))
            return
        self._end = end
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPause))
        self.play_button.setText("Pause")
        self.timer.start()

    def stop(self) -> None:
        self.player.stop()
        self._stopped()

    def _stopped(self) -> None:
        self.timer.stop()
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_button.setText("Play")
        self.position.emit(None)

    def _poll(self) -> None:
        t = self.player.position
        self.time.setText(f"{clock(t)} / {clock(self._duration)}")
        if self.player.playing:
            self.position.emit(t)
        else:
            self._resume_at = 0.0
            self._stopped()
