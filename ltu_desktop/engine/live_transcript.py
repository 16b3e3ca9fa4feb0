"""A recording transcribed while it is being made, so its transcript is ready when the person presses Stop.

Whisper is run on the audio after the last settled segment. A segment is settled once Whisper has found a
complete segment after it and it ended SETTLE_S before the recording's end: more audio no longer changes it.
Segments settle only up to a boundary that falls in a real pause (Whisper also ends a segment mid-phrase), and
the next run starts in the quietest moment of that pause, so no word or phrase is split. Stop leaves
only the unsettled rest, a few seconds, to transcribe. No prompt carries the settled text over: given text
without its timestamps, Whisper stops cutting the rest into segments, and nothing would settle again.
An update reads only the audio after the cut; the take so far comes from audio.io.IncomingAudio, which resamples
each new piece once, so a long take costs no more per update than a short one with the same unsettled rest.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..audio.io import SAMPLE_RATE, Audio
from .types import Segment, Transcript

SETTLE_S = 2.0  # a segment that ended this long before the recording's end is settled
PAUSE_S = 0.1  # the cut is the middle of the quietest stretch this long near a settled segment's end
SEARCH_S = 0.25  # looked for this far around the gap between the settled segment and the next
SHORTEST_S = 0.2  # a rest shorter than this holds no word
PAUSE_LEVEL = 0.1  # a pause is this much quieter (RMS) than the audio after the cut as a whole


class LiveTranscript:
    """`update(audio)` with the recording so far, as often as there is time; `finish(audio)` with the whole take.

    `run` transcribes a piece of audio (Transcriber.run); `keep` remembers the finished transcript for the
    recording's content (the engine's transcript cache)."""

    def __init__(self, run: Callable[[Audio], Transcript],
                 keep: Callable[[Audio, Transcript], None] = lambda _a, _t: None, settle_s: float = SETTLE_S) -> None:
        self.run, self.keep, self.settle_s = run, keep, settle_s
        self.settled: list[Segment] = []
        self.tentative: list[Segment] = []
        self.cut = 0.0  # seconds: the audio before this is transcribed for good
        self.heard = 0.0  # seconds of the recording the last run covered
        self.language: str | None = None
        self._speech = False

    @property
    def segments(self) -> tuple[Segment, ...]:
        return (*self.settled, *self.tentative)

    def update(self, audio: Audio) -> tuple[Segment, ...]:
        """Transcribe the recording so far after the cut; settle what more audio will not change, up to the
        last boundary that falls in a pause (Whisper also ends segments mid-phrase)."""
        rest = self._rest(audio)
        n = 0
        while n < len(rest) - 1 and rest[n].end <= audio.duration - self.settle_s:
            n += 1
        loudness = _rms(audio.samples[int(self.cut * SAMPLE_RATE):])
        for k in range(n, 0, -1):
            cut, quiet = quiet_point(audio, rest[k - 1].end, rest[k].start, self.cut)
            if quiet <= PAUSE_LEVEL * loudness:
                self.cut = cut
                self.settled += rest[:k]
                n = k
                break
        else:
            n = 0
        self.tentative = rest[n:]
        return self.segments

    def finish(self, audio: Audio) -> Transcript:
        """The whole take's transcript: the settled segments and the rest after the cut, transcribed now."""
        self.tentative = self._rest(audio)
        segments = self.segments
        text = " ".join(s.text for s in segments)
        transcript = Transcript(text, segments, self.language, no_speech=not (self._speech and text.strip()))
        self.keep(audio, transcript)
        return transcript

    def _rest(self, audio: Audio) -> list[Segment]:
        self.heard = audio.duration
        piece = audio.samples[int(round(self.cut * SAMPLE_RATE)):]
        if len(piece) < SHORTEST_S * SAMPLE_RATE:
            return []
        said = self.run(Audio(piece, audio.source))
        self.language = self.language or said.language
        self._speech |= not said.no_speech
        return [Segment(s.start + self.cut, s.end + self.cut, s.text) for s in said.segments
                if s.start + self.cut < audio.duration]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def quiet_point(audio: Audio, end: float, next_start: float, floor: float = 0.0) -> tuple[float, float]:
    """The middle of the quietest PAUSE_S around the gap between a segment's `end` and the next one's start
    (Whisper's timestamps are a little off) and its loudness (RMS): a pause is where a cut splits no word."""
    lo = max(floor, min(end, next_start) - SEARCH_S)
    hi = min(audio.duration, max(end, next_start) + SEARCH_S)
    x = audio.samples[int(lo * SAMPLE_RATE):int(hi * SAMPLE_RATE)].astype(np.float64)
    width = int(PAUSE_S * SAMPLE_RATE)
    if len(x) <= width:
        return max(floor, min(end, audio.duration)), _rms(x)
    energy = np.convolve(x * x, np.ones(width), mode="valid")
    at = int(np.argmin(energy))
    return lo + (at + width / 2) / SAMPLE_RATE, float(np.sqrt(max(energy[at], 0.0) / width))
