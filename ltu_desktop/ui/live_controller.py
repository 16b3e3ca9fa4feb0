"""A take while it is recorded, as part of the Controller: its waveform drawn as it comes in and its transcript
made as it goes, so the transcript is ready right after Stop.

A mixin, so the Controller keeps one face to the views and tests (`controller.begin_live`, `end_live`); it uses
the Controller's model, current clip, waveform, transcript panel and engine worker, and its _show and
_show_window. Every timer tick reads only what was recorded since the last one (Recorder.since).
"""

from __future__ import annotations

from PySide6.QtCore import QTimer

from .session import ClipEntry
from .waveform_view import GrowingEnvelope
from .workers import LiveRequest, LiveResult

LIVE_EVERY_S = 5.0  # while recording, the take is transcribed again once this much more is recorded
LIVE_POLL_MS = 500
WAVE_MS = 100  # the recording's waveform is redrawn this often


class LiveTake:
    def _init_live(self) -> None:
        self._live_source = None  # the Recorder while a take is being recorded
        self._live_path = ""  # that take's file: its clip gets the live transcript's rest transcribed
        self._live_frames = 0  # the take's samples sent to the worker so far
        self._wave_frames = 0  # and drawn so far
        self._wave: GrowingEnvelope | None = None
        self._live_shown: LiveResult | None = None
        self._live_clip: int | None = None  # the take's clip, once decoded
        self._live_timer = QTimer(self)
        self._live_timer.setInterval(LIVE_POLL_MS)
        self._live_timer.timeout.connect(self._live_tick)
        self._wave_timer = QTimer(self)
        self._wave_timer.setInterval(WAVE_MS)
        self._wave_timer.timeout.connect(self._wave_tick)

    @property
    def recording(self) -> bool:
        return self._live_source is not None

    def _claim_take(self, path: str, clip_id: int) -> str:
        """The take's path when `path` is the take just recorded, opened as clip `clip_id`: its transcript is the
        live one finished (only the rest after the settled segments is transcribed); else ""."""
        if path != self._live_path or self._live_clip is not None:
            return ""
        self._live_clip = clip_id
        return path

    def _unopened_take(self, path: str) -> bool:
        """Whether `path` is the take just recorded and it could not be opened (its waveform must give way)."""
        return path == self._live_path and self._live_clip is None and self._live_source is None

    def _stop_live(self) -> None:
        self._live_timer.stop()
        self._wave_timer.stop()

    def _show_transcript(self, clip: ClipEntry | None) -> None:
        """While a take is being recorded the panel shows its live transcript, else the clip's."""
        live = self._live_shown
        finishing = clip is not None and clip.id == self._live_clip and clip.transcript_state in ("pending", "running")
        if self._live_source is not None or (finishing and live is not None):
            self.transcript.show_live(live.segments if live else (), live.settled if live else 0,
                                      live.heard if live else 0.0, recording=self._live_source is not None)
        else:
            self.transcript.show_clip(clip)
        self._show_window()

    def begin_live(self, path: str, recorder) -> None:
        """`recorder` (audio.recorder.Recorder) is making the take: its `elapsed` seconds, `samplerate` and
        `since(frame)`; the waveform and the transcript panel show the take while it grows."""
        self._live_source, self._live_path, self._live_shown = recorder, str(path), None
        self._live_frames = self._wave_frames = 0
        self._live_clip = None
        self._wave = GrowingEnvelope(recorder.samplerate)
        self._live_timer.start()
        self._wave_timer.start()
        self._wave_tick()
        self._show_transcript(self.current)

    def end_live(self) -> None:
        """The take ended; its clip, once decoded, has only the rest after the settled segments transcribed
        (the panel shows the live segments, the waveform the take, until then)."""
        recorder = self._live_source
        self._live_timer.stop()
        self._wave_timer.stop()
        self._live_source = None
        if recorder is None or not recorder.elapsed:  # nothing was recorded: no clip is coming
            self._show(self.current)
            return
        self._wave_tick(recorder)
        self._show_transcript(self.current)

    def _wave_tick(self, stopped=None) -> None:
        """Only what was recorded since the last tick is read and reduced to columns; `stopped`: the recorder
        of the take that has just ended, drawn whole."""
        recorder, wave = stopped or self._live_source, self._wave
        if recorder is None or wave is None:
            return
        new = recorder.since(self._wave_frames)
        self._wave_frames += len(new)
        wave.append(new)
        self.waveform.show_recording(wave.columns, recorder.elapsed, going=stopped is None)

    def _live_tick(self) -> None:
        recorder = self._live_source
        if recorder is None or not recorder.samplerate:
            return
        if recorder.elapsed - self._live_frames / recorder.samplerate < LIVE_EVERY_S:
            return
        if self.model is not None and not self.engine.worker.busy():
            new = recorder.since(self._live_frames)
            self._live_frames += len(new)
            self.engine.worker.submit(LiveRequest(self._live_path, new, recorder.samplerate))

    def _live(self, result: LiveResult) -> None:
        if result.path != self._live_path:
            return
        self._live_shown = result
        self._show_transcript(self.current)
