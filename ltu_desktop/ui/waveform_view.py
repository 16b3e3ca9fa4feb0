"""The waveform of a clip with the 10-second window the model hears, which the person can drag."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from .session import WINDOW_S

BINS = 4096
SAMPLE_RATE = 16_000


def envelope(samples: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Min and max per bin, shape (2, n): computed once per clip, so painting stays cheap."""
    n = len(samples)
    if n == 0:
        return np.zeros((2, 1), np.float32)
    bins = min(bins, n)
    edges = np.linspace(0, n, bins + 1).astype(np.int64)
    lo = np.minimum.reduceat(samples, edges[:-1])
    hi = np.maximum.reduceat(samples, edges[:-1])
    return np.stack([lo, hi]).astype(np.float32)


def clock(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m)}:{s:04.1f}"


class WaveformView(QWidget):
    """Paints min/max columns; the window is dragged with the mouse or moved with the arrow keys.

    `windowMoved(start)` is emitted when a drag ends (or a key moves it), not on every pixel,
    so the clip's prepared features are recomputed only for windows the person settles on.
    `seekRequested(t)` is emitted on a click outside the window.
    """

    windowMoved = Signal(float)
    seekRequested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._env: np.ndarray | None = None
        self._note = ""
        self._duration = 0.0
        self._start = 0.0
        self._playhead: float | None = None
        self._drag_offset: float | None = None
        self._heard = True
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAccessibleName("Waveform")
        self._describe()

    def sizeHint(self) -> QSize:
        return QSize(600, 130)

    # --- state -----------------------------------------------------------------------------
    def set_clip(self, env: np.ndarray | None, duration: float, window_start: float = 0.0, note: str = "") -> None:
        """`note` replaces the hint drawn when there is no waveform (a clip whose audio is missing or loading)."""
        self._env, self._duration, self._note = env, duration, note
        self._start = self._clamp(window_start)
        self._playhead = None
        self._describe()
        self.update()

    def set_heard(self, heard: bool) -> None:
        """Whether the loaded model hears the window; the demo reads only the transcript of the whole clip."""
        self._heard = heard
        self._describe()
        self.update()

    def window_start(self) -> float:
        return self._start

    def window_length(self) -> float:
        return min(WINDOW_S, self._duration)

    def set_window_start(self, start: float, emit: bool = True) -> None:
        start = self._clamp(start)
        changed = abs(start - self._start) > 1e-6
        self._start = start
        self._describe()
        self.update()
        if emit and changed:
            self.windowMoved.emit(start)

    def set_playhead(self, seconds: float | None) -> None:
        self._playhead = seconds
        self.update()

    def _clamp(self, start: float) -> float:
        return float(min(max(0.0, start), max(0.0, self._duration - WINDOW_S)))

    def _describe(self) -> None:
        if self._duration <= 0:
            self.setAccessibleDescription("No clip selected")
            return
        end = self._start + self.window_length()
        span = f"{clock(self._start)} to {clock(end)}"
        if self._heard:
            heard = f"the model hears {span}"
            tip = f"The model hears {clock(self._start)}–{clock(end)}. Drag to move."
        else:
            heard = f"the window is {span}, but the loaded model reads only the transcript"
            tip = "The loaded model does not hear audio: it answers from the transcript of the whole clip."
        self.setAccessibleDescription(
            f"Clip of {clock(self._duration)}; {heard}. Drag the window or use the arrow keys to move it.")
        self.setToolTip(tip)

    # --- geometry --------------------------------------------------------------------------
    def _plot(self) -> QRectF:
        return QRectF(self.rect()).adjusted(6, 6, -6, -20)

    def _x(self, t: float) -> float:
        r = self._plot()
        return r.left() + (t / self._duration) * r.width() if self._duration else r.left()

    def _t(self, x: float) -> float:
        r = self._plot()
        return (x - r.left()) / max(1.0, r.width()) * self._duration

    def window_rect(self) -> QRectF:
        r = self._plot()
        left, right = self._x(self._start), self._x(self._start + self.window_length())
        return QRectF(QPointF(left, r.top()), QPointF(right, r.bottom()))

    # --- painting --------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        role = QPalette.ColorRole
        base, text, accent = pal.color(role.Base), pal.color(role.Text), pal.color(role.Highlight)
        plot = self._plot()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(base)
        p.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        if self._env is None or self._duration <= 0:
            p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            p.drawText(self.rect().adjusted(12, 0, -12, 0), flags,
                       self._note or "Open, drop or record a clip to see its waveform")
            return
        window = self.window_rect()
        shade = QColor(accent)
        shade.setAlpha(40 if self._heard else 15)
        p.setBrush(shade)
        p.drawRoundedRect(window, 4, 4)
        unheard = QColor(text)
        unheard.setAlpha(170)
        self._paint_wave(p, plot, window, text, accent if self._heard else unheard)
        edge = QPen(accent, 2 if self._heard else 1, Qt.PenStyle.SolidLine if self._heard else Qt.PenStyle.DashLine)
        p.setPen(edge)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(window.adjusted(1, 1, -1, -1), 4, 4)
        self._paint_axis(p, plot, text)
        label = "model hears" if self._heard else "not heard: this model reads the transcript"
        if window.width() > p.fontMetrics().horizontalAdvance(label) + 12:
            p.setPen(accent)
            top_left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
            p.drawText(window.adjusted(6, 3, -4, 0), top_left, label)
        if self._playhead is not None:
            x = self._x(self._playhead)
            p.setPen(QPen(pal.color(QPalette.ColorRole.Text), 1.5))
            p.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
        if self.hasFocus():
            focus = QPen(accent, 1, Qt.PenStyle.DotLine)
            p.setPen(focus)
            p.drawRoundedRect(QRectF(self.rect()).adjusted(1.5, 1.5, -1.5, -1.5), 6, 6)

    def _paint_wave(self, p: QPainter, plot: QRectF, window: QRectF, text: QColor, accent: QColor) -> None:
        cols = max(1, int(plot.width()))
        env = self._env
        idx = np.linspace(0, env.shape[1], cols + 1).astype(np.int64)
        idx[-1] = env.shape[1]
        starts = np.minimum(idx[:-1], env.shape[1] - 1)
        lo = np.minimum.reduceat(env[0], starts)
        hi = np.maximum.reduceat(env[1], starts)
        peak = max(1e-3, float(np.max(np.abs(env))))
        mid, half = plot.center().y(), plot.height() / 2 * 0.92
        path = QPainterPath()
        for i in range(cols):
            x = plot.left() + i + 0.5
            path.moveTo(x, mid - hi[i] / peak * half)
            path.lineTo(x, mid - lo[i] / peak * half + 0.5)
        muted = QColor(text)
        muted.setAlpha(110)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.save()
        p.setClipRect(plot)
        p.setPen(QPen(muted, 1))
        p.drawPath(path)
        p.setClipRect(window)
        p.setPen(QPen(accent, 1))
        p.drawPath(path)
        p.restore()

    def _paint_axis(self, p: QPainter, plot: QRectF, text: QColor) -> None:
        label = QColor(text)
        label.setAlpha(160)
        p.setPen(label)
        font = p.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 1e9) if self._duration / s <= 10)
        t = 0.0
        while t <= self._duration + 1e-6:
            x = self._x(t)
            p.drawLine(QPointF(x, plot.bottom() + 2), QPointF(x, plot.bottom() + 5))
            flags = Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter
            box = QRectF(x - 30, plot.bottom() + 4, 60, 14)
            box.moveLeft(max(0.0, min(box.left(), self.width() - box.width())))
            if box.left() == 0.0:
                flags = Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft
            elif box.right() >= self.width():
                flags = Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight
            p.drawText(box, flags, clock(t).removesuffix(".0"))
            t += step

    # --- interaction -----------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._duration <= 0 or event.button() != Qt.MouseButton.LeftButton:
            return
        x = event.position().x()
        if self.window_rect().contains(QPointF(x, self.window_rect().center().y())):
            self._drag_offset = self._t(x) - self._start
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        else:
            self.seekRequested.emit(max(0.0, min(self._duration, self._t(x))))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        x = event.position().x()
        if self._drag_offset is not None:
            self._start = self._clamp(self._t(x) - self._drag_offset)
            self._describe()
            self.update()
        elif self._duration > 0:
            inside = self.window_rect().contains(QPointF(x, self.window_rect().center().y()))
            self.setCursor(Qt.CursorShape.OpenHandCursor if inside else Qt.CursorShape.PointingHandCursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._drag_offset is None:
            return
        self._drag_offset = None
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.windowMoved.emit(self._start)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        step = 5.0 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1.0
        moves = {
            Qt.Key.Key_Left: self._start - step,
            Qt.Key.Key_Right: self._start + step,
            Qt.Key.Key_Home: 0.0,
            Qt.Key.Key_End: self._duration,
        }
        if event.key() in moves and self._duration > 0:
            self.set_window_start(moves[event.key()])
        else:
            super().keyPressEvent(event)
