"""Audio in: any file soundfile reads, or an array, as float32 mono 16 kHz."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000

_UNSUPPORTED_HINTS = {
    ".m4a": "AAC in MP4 (m4a)",
    ".mp4": "MP4",
    ".aac": "AAC",
    ".webm": "WebM",
    ".wma": "WMA",
    ".mkv": "Matroska",
}


class AudioError(ValueError):
    """Audio that cannot be used, with a message meant for a person."""


@dataclass(frozen=True, eq=False)
class Audio:
    """A clip as the models hear it: float32 mono samples at 16 kHz."""

    samples: np.ndarray
    source: str = "array"
    _digest: list[str] = field(default_factory=list, repr=False)
    warning: str | None = None  # the file was usable but not whole (a cut-short WAV): tell the person

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def content_hash(self) -> str:
        """SHA-256 of the samples: the key for every per-clip cache."""
        if not self._digest:
            self._digest.append(hashlib.sha256(self.samples.tobytes()).hexdigest())
        return self._digest[0]

    def slice(self, start_s: float, end_s: float) -> np.ndarray:
        a = max(0, int(round(start_s * SAMPLE_RATE)))
        b = min(len(self.samples), int(round(end_s * SAMPLE_RATE)))
        return self.samples[a:b]


def from_array(samples: np.ndarray, sample_rate: int = SAMPLE_RATE, source: str = "array") -> Audio:
    """Down-mix (channels last or first, whichever is smaller) and resample to 16 kHz."""
    x = np.asarray(samples)
    if x.size == 0:
        raise AudioError(f"{source}: the audio is empty (zero samples).")
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    x = x.astype(np.float32, copy=False)
    if x.ndim == 2:
        axis = 1 if x.shape[1] <= x.shape[0] else 0
        x = x.mean(axis=axis)
    elif x.ndim != 1:
        raise AudioError(f"{source}: expected a 1-D or 2-D array of samples, got shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise AudioError(f"{source}: the audio contains NaN or infinite samples; it is damaged.")
    if sample_rate <= 0:
        raise AudioError(f"{source}: invalid sample rate {sample_rate}.")
    if sample_rate != SAMPLE_RATE:
        import soxr

        x = soxr.resample(x, sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    if x.size == 0:
        raise AudioError(f"{source}: the audio is too short to use.")
    return Audio(np.ascontiguousarray(np.clip(x, -1.0, 1.0)), source)


class IncomingAudio:
    """A recording at 16 kHz as its pieces come in. Each piece is resampled once (soxr's streaming resampler keeps
    its filter state across pieces) into a buffer that grows by doubling, so an update costs only the new audio."""

    def __init__(self, sample_rate: int, source: str = "recording") -> None:
        import soxr

        self.source = source
        self._resampler = None if sample_rate == SAMPLE_RATE else soxr.ResampleStream(
            sample_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        self._buffer = np.zeros(0, np.float32)
        self._n = 0

    def append(self, samples: np.ndarray) -> None:
        """Mono float32 samples at the recording's rate, in the order they were recorded."""
        x = np.asarray(samples, np.float32)
        if self._resampler is not None:
            x = self._resampler.resample_chunk(x)
        if self._n + len(x) > len(self._buffer):
            grown = np.zeros(max(2 * len(self._buffer), self._n + len(x), 30 * SAMPLE_RATE), np.float32)
            grown[:self._n] = self._buffer[:self._n]
            self._buffer = grown
        np.clip(np.nan_to_num(x), -1.0, 1.0, out=self._buffer[self._n:self._n + len(x)])
        self._n += len(x)

    @property
    def audio(self) -> Audio:
        """What has come in so far (a view: nothing is copied)."""
        return Audio(self._buffer[:self._n], self.source)


def load_audio(path: str | Path) -> Audio:
    """Read a file soundfile understands; every failure becomes an AudioError."""
    import soundfile as sf

    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise AudioError(f"{p}: no such file.") from None
    except OSError as exc:  # a name too long for the file system, a folder without permission
        raise AudioError(f"{p.name[:80]}{'...' if len(p.name) > 80 else ''}: cannot be opened "
                         f"({exc.strerror or exc}).") from None
    if p.is_dir():
        raise AudioError(f"{p}: is a folder, not an audio file.")
    if size == 0:
        raise AudioError(f"{p.name}: the file is empty (0 bytes).")
    try:
        data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for bad input
        hint = _UNSUPPORTED_HINTS.get(p.suffix.lower())
        if hint:
            raise AudioError(
                f"{p.name}: {hint} files cannot be read. Convert it to WAV, FLAC, OGG or MP3 first "
                f"(for example: ffmpeg -i '{p.name}' out.wav)."
            ) from exc
        raise AudioError(
            f"{p.name}: not a readable audio file, or it is damaged ({_short(exc)}). "
            "Supported: WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF."
        ) from exc
    if data.shape[0] == 0:
        raise AudioError(f"{p.name}: the file holds no audio samples.")
    audio = from_array(data.mean(axis=1), rate, source=str(p))
    cut = _wav_shortfall(p)
    if cut is not None:
        audio = Audio(audio.samples, audio.source, warning=(
            f"{p.name} is truncated: its header promises {cut[1]:.1f} s but the file ends after {cut[0]:.1f} s "
            "(an interrupted copy or download?); using what is there."))
    return audio


def _wav_shortfall(p: Path) -> tuple[float, float] | None:
    """(seconds present, seconds the header declares) of a WAV whose data chunk is cut short, else None.
    A size of 0 or 0xFFFFFFFF is a writer that streams and never went back to fill it in: not a cut."""
    import struct

    try:
        with open(p, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            byte_rate = 0
            while len(chunk := f.read(8)) == 8:
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt " and size >= 16:
                    fmt = f.read(16)
                    byte_rate = struct.unpack("<HHIIHH", fmt)[3]
                    f.seek(size - 16 + (size & 1), 1)
                elif cid == b"data":
                    have = p.stat().st_size - f.tell()
                    if size in (0, 0xFFFFFFFF) or have >= size or not byte_rate:
                        return None
                    return have / byte_rate, size / byte_rate
                else:
                    f.seek(size + (size & 1), 1)
    except (OSError, struct.error):
        return None
    return None


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
