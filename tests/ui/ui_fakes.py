"""A small engine that follows Engine's public interface exactly, with knobs for speed and failure.

It returns the engine's real data types, so the GUI is tested against the same shapes it gets
from the real engine; tests with the real engine on tiny models live in test_real_engine.py.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from ltu_desktop.engine.types import (
    Answer,
    Cancelled,
    Clip,
    EngineError,
    Segment,
    Stats,
    Transcript,
)

SEGMENTS = (Segment(0.0, 1.5, " The meeting is on Monday."), Segment(1.5, 3.0, " Bring the slides."))


class FakeEngine:
    def __init__(self, pieces=("The ", "speaker ", "sounds ", "calm."), delay: float = 0.0, label: str = "Fake model",
                 fail_answer: Exception | None = None, transcribe_delay: float = 0.0, hears_audio: bool = True,
                 kind: str = "ltu-as"):
        self.profile = SimpleNamespace(describe=lambda: label, name="fake", kind=kind)
        self.device, self.precision, self.hears_audio = "cpu", "fp32", hears_audio
        self.pieces, self.delay = list(pieces), delay
        self.fail_answer, self.transcribe_delay = fail_answer, transcribe_delay
        self.calls: list[tuple] = []
        self.last_answer: Answer | None = None
        self.threads: set[str] = set()

    def memory_mb(self) -> float:
        return 321.0

    def default_settings(self, **given):
        """Like Engine's: the demo family (which does not hear) answers greedily unless told otherwise."""
        from ltu_desktop.engine.types import GenerationSettings

        defaults = {} if self.hears_audio else {"temperature": 0.0}
        return GenerationSettings(**{**defaults, **{k: v for k, v in given.items() if v is not None}})

    def transcribe(self, audio, on_segment=None) -> Transcript:
        """Hands over each segment as it goes, `transcribe_delay` spread over them."""
        self.threads.add(threading.current_thread().name)
        self.calls.append(("transcribe", audio.content_hash))
        for segment in SEGMENTS:
            time.sleep(self.transcribe_delay / len(SEGMENTS))
            if on_segment is not None:
                on_segment(segment)
        return Transcript("The meeting is on Monday. Bring the slides.", SEGMENTS, "en")

    def prepare(self, audio, window=None, transcript=None) -> Clip:
        self.threads.add(threading.current_thread().name)
        self.calls.append(("prepare", window))
        return Clip(audio, window or (0.0, min(10.0, audio.duration)), None, transcript or self.transcribe(audio))

    def answer(self, clip, question, transcript=None, settings=None, stop=None):
        self.threads.add(threading.current_thread().name)
        self.calls.append(("answer", question, transcript, settings))
        used = transcript if transcript is not None else clip.transcript.text
        stats = Stats(device=self.device, precision=self.precision)
        answer = Answer("", [], False, stats, f"Q: {question}", used, heard_audio=self.hears_audio)
        self.last_answer = answer
        t0 = time.perf_counter()
        shown = []
        for i, piece in enumerate(self.pieces):
            if stop is not None and stop.is_set():
                answer.stopped = True
                break
            if self.fail_answer is not None and i == 2:
                answer.text = "".join(shown).strip()
                raise self.fail_answer
            time.sleep(self.delay)
            if i == 0:
                stats.first_token_s = time.perf_counter() - t0
            shown.append(piece)
            stats.new_tokens += 1
            answer.token_ids.append(i)
            yield piece
        stats.decode_s = max(1e-6, time.perf_counter() - t0 - stats.first_token_s)
        answer.text = "".join(shown).strip()


def loader_for(engine: FakeEngine, gate: threading.Event | None = None,
               stages=("Reading files", "Moving to the device")):
    """A loader like workers.load_engine: reports stages, honours cancel, optionally waits on `gate`."""
    seen: list = []

    def load(request, progress):
        seen.append(request)
        for i, stage in enumerate(stages):
            if request.cancel.is_set():
                raise Cancelled("Loading was cancelled.")
            progress(stage, (i + 1) / (len(stages) + 1))
        if gate is not None:
            while not gate.wait(0.01):
                if request.cancel.is_set():
                    raise Cancelled("Loading was cancelled.")
        return engine

    load.requests = seen
    return load


def failing_loader(message: str = "adapter.bin lacks tensors: tltr.time_tr.attn.query.weight"):
    from ltu_desktop.engine.types import CheckpointError

    def load(request, progress):
        progress("Reading files", 0.1)
        raise CheckpointError(message)

    return load


__all__ = ["FakeEngine", "loader_for", "failing_loader", "EngineError"]
