"""GUI test fixtures: offscreen Qt, clean settings, sample files and a window driven by a fake engine."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import numpy as np
import pytest
import soundfile as sf
from ui_fakes import FakeEngine, loader_for


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    monkeypatch.setenv("LTU_DESKTOP_CONFIG", str(folder))
    monkeypatch.setenv("LTU_DESKTOP_DATA", str(tmp_path / "data"))
    return folder


def write_tone(path, seconds: float, rate: int = 44_100, channels: int = 2, freq: float = 440.0):
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * freq * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.25 * t))
    sf.write(str(path), np.stack([tone] * channels, axis=1) if channels > 1 else tone, rate)
    return path


@pytest.fixture
def tone_file(tmp_path):
    return write_tone(tmp_path / "tone.wav", 3.0)


@pytest.fixture
def long_file(tmp_path):
    return write_tone(tmp_path / "long.flac", 32.0, rate=22_050, channels=1, freq=220.0)


@pytest.fixture
def corrupt_file(tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" + os.urandom(200))
    return path


@pytest.fixture
def fake_engine():
    return FakeEngine()


@pytest.fixture
def make_window(qtbot, config_dir):
    """Build a MainWindow around a loader; closes it (and its threads) after the test."""
    from ltu_desktop.settings import Settings
    from ltu_desktop.ui.main_window import MainWindow

    windows = []

    def make(loader=None, engine=None, autoload=True, settings=None, persist=False, real=False):
        """`real=True` keeps the app's own loader (the real Engine.load)."""
        if not real:
            loader = loader or loader_for(engine or FakeEngine())
        window = MainWindow(settings or Settings(), loader=loader, persist=persist, autoload=autoload)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for w in windows:
        w.close()


def drag_enter_event(pos, mime):
    """Qt 6.12 takes a QPointF here; earlier versions only a QPoint."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QDragEnterEvent

    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    try:
        return QDragEnterEvent(pos, *args)
    except TypeError:
        return QDragEnterEvent(pos.toPoint(), *args)


def drop_files(widget, paths) -> bool:
    """Send a real drag-enter + drop with file URLs to `widget`; returns whether the drop was accepted."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(widget.rect().center())
    enter = drag_enter_event(pos, mime)
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return drop.isAccepted()


def wait_clips(qtbot, window, n: int, timeout: int = 5000) -> list:
    qtbot.waitUntil(lambda: len(window.controller.clips) >= n, timeout=timeout)
    return list(window.controller.clips.values())


def wait_done(qtbot, exchange, timeout: int = 5000):
    qtbot.waitUntil(lambda: not exchange.pending, timeout=timeout)
    return exchange


@pytest.fixture
def one_torch_thread():
    """In-process training uses one thread, as tests/train does: two would compete on a shared CI machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
