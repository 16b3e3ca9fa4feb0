"""The waveform of a take is drawn while it is recorded, from only what came in since the last look; once the take
is opened as a clip, the waveform shows the window the model hears, as for any clip."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from conftest import wait_clips
from PySide6.QtGui import QColor, QPalette

RATE = 48_000


class GrowingTake:
    """Stands in for audio.recorder.Recorder while it records: the test says how much has been recorded."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples, self.samplerate, self.frames, self.handed = samples, RATE, 0, 0

    @property
    def elapsed(self) -> float:
        return self.frames / RATE

    def since(self, frame: int) -> np.ndarray:
        piece = self.samples[frame:self.frames]
        self.handed += len(piece)
        return piece


def loud_columns(view) -> int:
    """Columns of the plot with the highlight colour well above or below the middle line: sound, not silence."""
    image = view.grab().toImage()
    accent = view.palette().color(QPalette.ColorRole.Highlight)
    plot = view._plot()
    mid, far = int(plot.center().y()), int(plot.height() * 0.3)
    loud = 0
    for x in range(int(plot.left()) + 2, int(plot.right()) - 2, 2):
        for y in (mid - far, mid + far):
            c = QColor(image.pixel(x, y))
            if abs(c.red() - accent.red()) + abs(c.green() - accent.green()) + abs(c.blue() - accent.blue()) < 90:
                loud += 1
                break
    return loud


def test_the_take_is_drawn_as_it_is_recorded_then_opens_with_its_window(make_window, qtbot, tmp_path):
    t = np.arange(4 * RATE) / RATE
    take = np.where(t < 2.0, 0.0, 0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)  # 2 s quiet, then sound
    window = make_window()
    qtbot.waitUntil(lambda: window.controller.model is not None, timeout=5000)
    view, recorder = window.waveform, GrowingTake(take)
    path = tmp_path / "take.wav"
    window.controller.begin_live(str(path), recorder)
    assert view.recording and "Recording…" in view._note

    recorder.frames = 2 * RATE
    qtbot.waitUntil(lambda: view.window_text() == "● recording 0:02.0", timeout=3000)
    assert view.window_rect().isEmpty() and loud_columns(view) == 0  # the quiet start: a flat line, no window
    assert "Recording: 0:02.0" in view.accessibleDescription()

    recorder.frames = 4 * RATE
    qtbot.waitUntil(lambda: view.window_text() == "● recording 0:04.0", timeout=3000)
    qtbot.wait(150)
    assert loud_columns(view) > 20  # the sound appears on the right as it comes in
    assert recorder.handed <= 2 * len(take)  # each reader (waveform, live transcript) took each sample once

    window.controller.end_live()
    assert view.recording and view.window_text() == "recorded 0:04.0 · opening it…"  # until it is opened
    sf.write(str(path), take, RATE)
    window.controller.add_files([str(path)], recorded=True)
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: not view.recording, timeout=5000)
    assert window.controller.current is clip and view.window_text() == "model hears 0:00.0–0:04.0"
    assert not view.window_rect().isEmpty()


def test_a_take_that_recorded_nothing_gives_the_waveform_back(make_window, qtbot, tone_file):
    window = make_window()
    window.add_files([tone_file])
    wait_clips(qtbot, window, 1)
    recorder = GrowingTake(np.zeros(0, np.float32))
    window.controller.begin_live("/nowhere/take.wav", recorder)
    assert window.waveform.recording
    window.controller.end_live()
    assert not window.waveform.recording and window.waveform.window_text().startswith("model hears 0:00.0")
