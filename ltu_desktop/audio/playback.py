"""Play a clip (or part of it) through sounddevice; no Qt, the UI polls `position`.

PySide6-Essentials has no QtMultimedia, and sounddevice is already needed for recording.
The samples are resampled once to the output device's own rate, because many devices refuse
16 kHz streams.
"""

from __future__ import annotations

import threading

import numpy as np

SAMPLE_RATE = 16_000


class PlaybackError(RuntimeError):
    """A playback problem worded for a person (no speakers, device busy)."""


def _sd():
    try:
        import sounddevice
    except OSError as exc:
        raise PlaybackError(
            "Playback is unavailable: the PortAudio library is not installed "
            "(on Debian/Ubuntu: apt install libportaudio2)."
        ) from exc
    return sounddevice


class Player:
    """One clip at a time; `play` from a start time to an optional end time, `pause` keeps the spot."""

    def __init__(self) -> None:
        self._stream = None
        self._lock = threading.Lock()
        self._data = np.zeros(0, np.float32)
        self._rate = SAMPLE_RATE
        self._pos = 0
        self._end = 0
        self._offset_s = 0.0

    @property
    def playing(self) -> bool:
        stream = self._stream
        return stream is not None and stream.active

    @property
    def position(self) -> float:
        """Seconds into the clip of the sample being played."""
        return self._offset_s + self._pos / self._rate

    def play(self, samples: np.ndarray, start_s: float = 0.0, end_s: float | None = None) -> None:
        """Play 16 kHz mono `samples` from `start_s` to `end_s` (default: the end)."""
        self.stop()
        sd = _sd()
        try:
            out = sd.query_devices(kind="output")
        except Exception as exc:
            raise PlaybackError("No audio output device found, so the clip cannot be played here.") from exc
        rate = int(out["default_samplerate"]) or SAMPLE_RATE
        a = max(0, int(start_s * SAMPLE_RATE))
        b = len(samples) if end_s is None else min(len(samples), int(end_s * SAMPLE_RATE))
        piece = np.asarray(samples[a:b], dtype=np.float32)
        if rate != SAMPLE_RATE and piece.size:
            import soxr

            piece = soxr.resample(piece, SAMPLE_RATE, rate).astype(np.float32)
        with self._lock:
            self._data, self._rate, self._pos, self._end = piece, rate, 0, len(piece)
            self._offset_s = a / SAMPLE_RATE
        try:
            stream = sd.OutputStream(samplerate=rate, channels=1, dtype="float32", callback=self._fill)
            stream.start()
        except Exception as exc:
            raise PlaybackError(f"Cannot open the audio output “{out['name']}”: {exc}") from exc
        self._stream = stream

    def pause(self) -> float:
        """Stop sound but remember where; returns the position in seconds."""
        position = self.position
        self._close()
        return position

    def stop(self) -> None:
        self._close()
        with self._lock:
            self._pos = self._end = 0
            self._offset_s = 0.0

    def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.abort()
            stream.close()

    def _fill(self, outdata, frames, time_info, status) -> None:
        with self._lock:
            n = max(0, min(frames, self._end - self._pos))
            outdata[:n, 0] = self._data[self._pos : self._pos + n]
            outdata[n:, 0] = 0.0
            self._pos += n
        if n < frames:
            raise _sd().CallbackStop
