"""The waveform of a clip with the window the model hears (10 s for LTU-AS), which the person can drag.

Until a model is loaded the window is drawn neutral (nothing is claimed about what will be heard); a model
that only reads the transcript gets no window at all. The window's start-end times are written above it.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from .session import WINDOW_S

BINS = 4096
SAMPLE_RATE = 16_000
COLUMN_S = 0.01  # a recording's live waveform: one min/max column per 10 ms


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


class GrowingEnvelope:
    """Min and max per COLUMN_S of a recording as it comes in: each new piece is reduced once into a buffer that
    grows by doubling, and the view paints these columns (100 a second), never the samples."""

    def __init__(self, sample_rate: int) -> None:
        self.step = max(1, int(sample_rate * COLUMN_S))
        self._rest = np.zeros(0, np.float32)
        self._cols = np.zeros((2, 0), np.float32)
        self._n = 0

    def append(self, samples: np.ndarray) -> None:
        x = np.concatenate([self._rest, np.asarray(samples, np.float32)]) if len(self._rest) else samples
        whole = len(x) // self.step * self.step
        self._rest = np.array(x[whole:], np.float32)
        if not whole:
            return
        blocks = np.asarray(x[:whole], np.float32).reshape(-1, self.step)
        new = np.stack([blocks.min(axis=1), blocks.max(axis=1)])
        if self._n + new.shape[1] > self._cols.shape[1]:
            grown = np.zeros((2, max(2 * self._cols.shape[1], self._n + new.shape[1], 3000)), np.float32)
            grown[:, :self._n] = self._cols[:, :self._n]
            self._cols = grown
        self._cols[:, self._n:self._n + new.shape[1]] = new
        self._n += new.shape[1]

    @property
    def columns(self) -> np.ndarray | None:
        """Shape (2, n), a view; None until the first column is complete."""
        return self._cols[:, :self._n] if self._n else None


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
        self._mode = "none"  # none (no model yet) | heard | transcript (the model reads only the transcript)
        self._length = WINDOW_S
        self._recording = False  # a take being recorded is drawn as it comes in, without a window
        self._going = False  # and it is still being recorded
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
        self._env, self._duration, self._note, self._recording = env, duration, note, False
        self._start = self._clamp(window_start)
        self._playhead = None
        self._describe()
        self.update()

    def show_recording(self, env: np.ndarray | None, duration: float, going: bool = True) -> None:
        """The take being recorded, `duration` seconds so far (GrowingEnvelope's columns), or stopped (`going`
        False) and about to open; no window until it is opened as a clip (set_clip)."""
        self._env, self._duration, self._recording, self._playhead = env, duration, True, None
        self._going = going
        self._note = "Recording… the waveform appears as the sound comes in"
        self._describe()
        self.update()

    @property
    def recording(self) -> bool:
        return self._recording

    def set_mode(self, mode: str, length: float = WINDOW_S) -> None:
        """"none" before a model is loaded, "heard" with the loaded model's window `length`, or "transcript"."""
        self._mode, self._length = mode, length or WINDOW_S
        self._start = self._clamp(self._start)
        self._describe()
        self.update()

    @property
    def heard(self) -> bool:
        return self._mode == "heard"

    def window_start(self) -> float:
        return self._start

    def window_length(self) -> float:
        return min(self._length, self._duration)

    def window_text(self) -> str:
        """What is written above the window: who hears it and its start-end times."""
        span = f"{clock(self._start)}–{clock(self._start + self.window_length())}"
        if self._recording:
            return f"● recording {clock(self._duration)}" if self._going else \
                f"recorded {clock(self._duration)} · opening it…"
        if self._mode == "transcript":
            return "this model reads the transcript of the whole clip; it does not hear the audio"
        return f"model hears {span}" if self._mode == "heard" else f"window {span} (no model loaded yet)"

    def set_window_start(self, start: float, emit: bool = True) -> None:
        start = self._clamp(start)
        changed = abs(start - self._start) > 1e-6
        self._start = start
        self._describe()
        self.update()
        if emit and changed:
            self.windowMoved.emit(start)

    def set_playhead(self, seconds: float | None) -> None:
        self._playhead = None if self._recording else seconds
        self.update()

    def _clamp(self, start: float) -> float:
        return float(min(max(0.0, start), max(0.0, self._duration - self._length)))

    def _describe(self) -> None:
        if self._duration <= 0:
            self.setAccessibleDescription("No clip selected")
            return
        end = self._start + self.window_length()
        span = f"{clock(self._start)} to {clock(end)}"
        if self._recording:
            self.setAccessibleDescription(f"Recording: {clock(self._duration)} so far.")
            self.setToolTip("The take being recorded; once you stop, it opens as a clip with its window.")
            return
        if self._mode == "heard":
            heard = f"the model hears {span}. Drag the window or use the arrow keys to move it"
            tip = f"The model hears {clock(self._start)}–{clock(end)}. Drag to move."
        elif self._mode == "transcript":
            heard = "the loaded model reads only the transcript of the whole clip"
            tip = "The loaded model does not hear audio: it answers from the transcript of the whole clip."
        else:
            heard = f"the window is {span}; no model is loaded yet"
            tip = f"Window {clock(self._start)}–{clock(end)}: what a model that hears audio will hear. Drag to move."
        self.setAccessibleDescription(f"Clip of {clock(self._duration)}; {heard}.")
        self.setToolTip(tip)

    # --- geometry --------------------------------------------------------------------------
    def _plot(self) -> QRectF:
        """The wave's area: below the label strip, above the time axis."""
        label = self.fontMetrics().height() + 4
        axis = self._axis_font().pointSizeF() * 1.6 + 8
        return QRectF(self.rect()).adjusted(6, 4 + label, -6, -axis)

    def _axis_font(self):
        font = self.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        return font

    def _x(self, t: float) -> float:
        r = self._plot()
        return r.left() + (t / self._duration) * r.width() if self._duration else r.left()

    def _t(self, x: float) -> float:
        r = self._plot()
        return (x - r.left()) / max(1.0, r.width()) * self._duration

    def window_rect(self) -> QRectF:
        """Empty when no window is shown (a model that reads only the transcript)."""
        if self._mode == "transcript" or self._recording:
            return QRectF()
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
        heard = self._mode == "heard" or self._recording
        neutral = QColor(text)
        neutral.setAlpha(150)
        edge_color = accent if heard else neutral
        if not window.isEmpty():
            shade = QColor(edge_color)
            shade.setAlpha(40 if heard else 20)
            p.setBrush(shade)
            p.drawRoundedRect(window.adjusted(0, -2, 0, 2), 4, 4)
        self._paint_wave(p, plot, plot if self._recording else window, text, accent if heard else neutral)
        if not window.isEmpty():
            p.setPen(QPen(edge_color, 2 if heard else 1, Qt.PenStyle.SolidLine if heard else Qt.PenStyle.DashLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(window.adjusted(1, -1, -1, 1), 4, 4)
        self._paint_axis(p, plot, text)
        self._paint_label(p, plot, window, edge_color)
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

    def _paint_label(self, p: QPainter, plot: QRectF, window: QRectF, color: QColor) -> None:
        """Above the wave, never over it: starting at the window, moved left when it would run off the edge."""
        p.setFont(self.font())
        p.setPen(color)
        text = self.window_text()
        width = p.fontMetrics().horizontalAdvance(text) + 4
        left = window.left() if not window.isEmpty() else plot.left()
        left = max(plot.left(), min(left, plot.right() - width))
        box = QRectF(left, 2, min(width, plot.width()), plot.top() - 3)
        p.drawText(box, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   p.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, int(box.width())))

    def ticks(self) -> list[float]:
        """Tick times: 0, every step, and the clip's end (labels that would collide with it are left out)."""
        step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 1e9) if self._duration / s <= 10)
        times = [i * step for i in range(int(self._duration // step) + 1)]
        if self._duration - times[-1] < step * 0.75:
            times.pop()
        return [*times, self._duration]

    def _paint_axis(self, p: QPainter, plot: QRectF, text: QColor) -> None:
        label = QColor(text)
        label.setAlpha(160)
        p.setPen(label)
        p.setFont(self._axis_font())
        height = p.fontMetrics().height()
        for t in self.ticks():
            x = self._x(t)
            p.drawLine(QPointF(x, plot.bottom() + 2), QPointF(x, plot.bottom() + 5))
            words = clock(t).removesuffix(".0")
            width = p.fontMetrics().horizontalAdvance(words) + 2
            box = QRectF(x - width / 2, plot.bottom() + 5, width, height)
            box.moveLeft(max(1.0, min(box.left(), self.width() - width - 1)))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, words)

    # --- interaction -----------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._duration <= 0 or self._recording or event.button() != Qt.MouseButton.LeftButton:
            return
        x = event.position().x()
        if not self.window_rect().isEmpty() and self.window_rect().contains(QPointF(x, self.window_rect().center().y())):
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
        elif self._duration > 0 and not self._recording:
            inside = not self.window_rect().isEmpty() and self.window_rect().contains(QPointF(x, self.window_rect().center().y()))
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
        if event.key() in moves and self._duration > 0 and self._mode != "transcript" and not self._recording:
            self.set_window_start(moves[event.key()])
        else:
            super().keyPressEvent(event)
