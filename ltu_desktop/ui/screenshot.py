"""`--screenshot`: open clips, ask a question, wait until it is answered, save the window as PNG."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication

SETTLE_MS = 500


class ScreenshotRun(QObject):
    """Drives a MainWindow through its public signals; `exit_code` is 0 when the answer came."""

    def __init__(self, window, out: str, clips: list[str], question: str | None, window_start: float, timeout_s: float):
        super().__init__(window)
        self.window, self.out, self.clips = window, Path(out), [str(c) for c in clips]
        self.question, self.window_start, self.timeout_s = question, window_start, timeout_s
        self.exit_code = 1
        self.first = None
        self._answered = question is None
        self._done = False
        c = window.controller
        c.clipAdded.connect(self._clip_added)
        c.transcriptReady.connect(lambda _clip: self._maybe_finish())
        c.exchangeFinished.connect(self._finished)
        c.fileFailed.connect(self._file_failed)

    def start(self) -> None:
        if not self.clips:
            self._give_up("--screenshot needs --clip FILE")
            return
        self.window.add_files(self.clips[:1])
        QTimer.singleShot(int(self.timeout_s * 1000), lambda: self._give_up(f"no answer within {self.timeout_s:.0f} s"))

    def _clip_added(self, clip) -> None:
        if self.first is not None:
            return
        self.first = clip
        self.window.waveform.set_window_start(self.window_start)
        if self.question:
            self.window.controller.ask(self.question)
        self.window.add_files(self.clips[1:])

    def _file_failed(self, path: str, message: str) -> None:
        self._give_up(message)

    def _finished(self, exchange) -> None:
        self._answered = True
        if exchange.state != "done":
            print(f"screenshot: the answer ended {exchange.state}: {exchange.error}", file=sys.stderr)
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        ready = self.first is not None and self.first.transcript_state in ("done", "failed")
        if ready and self._answered:
            self.exit_code = 0
            self._shoot()

    def _give_up(self, why: str) -> None:
        print(f"screenshot: {why}", file=sys.stderr)
        self._shoot()

    def _shoot(self) -> None:
        if self._done:
            return
        self._done = True
        if self.first is not None:
            self.window.clip_list.select(self.first.id)
        QTimer.singleShot(SETTLE_MS, self._save)

    def _save(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        if not self.window.grab().save(str(self.out)):
            print(f"screenshot: could not write {self.out}", file=sys.stderr)
            self.exit_code = 1
        else:
            print(f"screenshot: saved {self.out}")
        QApplication.instance().exit(self.exit_code)
