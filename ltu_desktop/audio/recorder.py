"""Microphone recording with sounddevice; no Qt here, the UI polls `level` and `elapsed`.

PortAudio's callback thread only copies blocks into a queue and updates the level; a writer
thread appends them to a WAV file and flushes (which rewrites the header) about twice a second,
so a crash or power cut keeps everything up to the last flush as a playable file.

Opening an input stream can take a second or more (PulseAudio through ALSA), so `arm()` opens it
ahead of time: nothing is kept but the last PREROLL_S, and `start()` then writes from the moment
of the press (with that short pre-roll) instead of from whenever the device is ready.
"""

from __future__ import annotations

import bisect
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FLUSH_EVERY_S = 0.5
PREROLL_S = 0.25  # kept from just before the press: the first syllable of someone who speaks as they click


class RecorderError(RuntimeError):
    """A recording problem worded for a person (no microphone, device busy, disk full)."""


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    default_samplerate: float
    is_default: bool


def _sd():
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio library itself is missing
        raise RecorderError(
            "Audio input is unavailable: the PortAudio library is not installed "
            "(on Debian/Ubuntu: apt install libportaudio2)."
        ) from exc
    return sounddevice


def refresh_devices() -> None:
    """Re-scan the system's audio devices (PortAudio lists them only once, at start-up)."""
    sd = _sd()
    sd._terminate()
    sd._initialize()


def input_devices() -> list[InputDevice]:
    sd = _sd()
    try:
        devices = sd.query_devices()
        default = sd.default.device[0]
    except Exception as exc:
        raise RecorderError(f"Cannot list audio devices: {exc}") from exc
    return [
        InputDevice(i, d["name"], float(d["default_samplerate"]), i == default)
        for i, d in enumerate(devices)
        if d["max_input_channels"] > 0
    ]


def _pick(devices: list[InputDevice], wanted: str | int | None) -> InputDevice:
    if not devices:
        raise RecorderError(
            "No microphone found. Connect one (or enable it in the system's sound settings) and try again."
        )
    if isinstance(wanted, int):
        for d in devices:
            if d.index == wanted:
                return d
    elif wanted:
        for d in devices:
            if d.name == wanted:
                return d
    return next((d for d in devices if d.is_default), devices[0])


class Recorder:
    """Record one take at a time into a WAV file at the device's own sample rate, mono."""

    def __init__(self) -> None:
        self._stream = None
        self._writer: threading.Thread | None = None
        self._blocks: queue.Queue[np.ndarray | None] = queue.Queue()
        self._path: Path | None = None
        self._frames = 0
        self._samplerate = 0
        self._level = 0.0
        self._started = 0.0
        self._error: str | None = None
        self._warning: str | None = None
        self.device: InputDevice | None = None
        self._armed = None  # (stream, device) opened ahead of time, not writing
        self._writing = False
        self._preroll: list[np.ndarray] = []
        self._switch = threading.Lock()  # the callback's choice between pre-roll and queue vs. start()
        self._taken: list[np.ndarray] = []  # what the file holds so far, for what the UI shows while recording
        self._starts: list[int] = []  # the frame each of those blocks starts at

    @property
    def recording(self) -> bool:
        return self._stream is not None

    @property
    def level(self) -> float:
        """Peak of the latest block, 0..1, for a level meter."""
        return self._level

    @property
    def elapsed(self) -> float:
        """Seconds recorded so far (counted from samples, not wall time)."""
        return self._frames / self._samplerate if self._samplerate else 0.0

    @property
    def error(self) -> str | None:
        """Set when writing failed (e.g. disk full): the take cannot go on."""
        return self._error

    @property
    def warning(self) -> str | None:
        """Set when PortAudio reported lost input: the take goes on, with a gap."""
        return self._warning

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def armed(self) -> bool:
        return self._armed is not None

    def arm(self, device: str | int | None = None) -> None:
        """Open the input now so a later `start` loses nothing to the device's start-up."""
        if self.recording:
            return
        chosen = _pick(input_devices(), device)
        if self._armed is not None and self._armed[1] == chosen:
            return
        self.disarm()
        self._preroll = []
        self._writing = False
        rate = int(chosen.default_samplerate) or 48_000
        self._armed = (self._open(chosen, rate), chosen)

    def disarm(self) -> None:
        armed, self._armed = self._armed, None
        if armed is not None and not self.recording:
            armed[0].stop()
            armed[0].close()

    def _open(self, chosen: InputDevice, rate: int):
        sd = _sd()
        try:
            stream = sd.InputStream(
                device=chosen.index, samplerate=rate, channels=1, dtype="float32", callback=self._on_block
            )
            stream.start()
        except Exception as exc:
            raise RecorderError(f"Cannot open the microphone “{chosen.name}”: {exc}") from exc
        return stream

    def start(self, path: str | Path, device: str | int | None = None) -> InputDevice:
        if self.recording:
            raise RecorderError("Already recording.")
        chosen = _pick(input_devices(), device)
        if self._armed is not None and self._armed[1] != chosen:
            self.disarm()
        rate = int(self._armed[0].samplerate) if self._armed else int(chosen.default_samplerate) or 48_000
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        import soundfile as sf

        try:
            sink = sf.SoundFile(str(self._path), "w", samplerate=rate, channels=1, subtype="PCM_16")
        except Exception as exc:
            raise RecorderError(f"Cannot write the recording to {self._path}: {exc}") from exc
        self._frames, self._samplerate, self._level, self._taken, self._starts = 0, rate, 0.0, [], []
        self._error = self._warning = None
        self._blocks = queue.Queue()
        if self._armed is not None:
            stream, self._armed = self._armed[0], None
        else:
            try:
                stream = self._open(chosen, rate)
            except RecorderError:
                sink.close()
                raise
        with self._switch:
            for block in self._preroll:
                self._blocks.put(block)
            self._preroll = []
            self._writing = True
        self._stream, self.device, self._started = stream, chosen, time.monotonic()
        self._writer = threading.Thread(target=self._write, args=(sink,), name="recorder-writer", daemon=True)
        self._writer.start()
        return chosen

    def stop(self) -> Path:
        """Stop, finish the file and return its path."""
        if self._stream is None or self._path is None:
            raise RecorderError("Not recording.")
        stream, self._stream = self._stream, None
        self._writing = False
        try:
            stream.stop()
        finally:
            stream.close()
            self._blocks.put(None)
            if self._writer is not None:
                self._writer.join()
        self._level = 0.0
        if self._error and self._frames == 0:
            raise RecorderError(self._error)
        return self._path

    @property
    def samplerate(self) -> int:
        """The take's sample rate (the device's own); 0 before the first take."""
        return self._samplerate

    def since(self, frame: int = 0) -> np.ndarray:
        """The take's samples written from `frame` on: a reader that remembers how far it got copies only what is
        new, however long the take."""
        n = len(self._taken)  # the writer adds a block's start before the block: both lists hold these n
        if n == 0:
            return np.zeros(0, np.float32)
        i = max(0, bisect.bisect_right(self._starts, frame, 0, n) - 1)
        return np.concatenate(self._taken[i:n])[max(0, frame - self._starts[i]):]

    def _on_block(self, indata, frames, time_info, status) -> None:
        if status.input_overflow:
            self._warning = "Some input was lost (the computer was too busy); the recording has a gap."
        block = indata[:, 0].copy()
        with self._switch:
            if not self._writing:  # armed: keep only the pre-roll
                self._preroll.append(block)
                while sum(len(b) for b in self._preroll) - len(self._preroll[0]) > PREROLL_S * 48_000:
                    self._preroll.pop(0)
                return
            self._blocks.put(block)
        self._level = float(np.max(np.abs(block))) if block.size else 0.0

    def _write(self, sink) -> None:
        last_flush = time.monotonic()
        try:
            while True:
                block = self._blocks.get()
                if block is None:
                    break
                sink.write(block)
                self._starts.append(self._frames)
                self._taken.append(block)
                self._frames += len(block)
                if time.monotonic() - last_flush > FLUSH_EVERY_S:
                    sink.flush()
                    last_flush = time.monotonic()
        except Exception as exc:
            self._error = f"Writing the recording failed: {exc}"
        finally:
            sink.close()
