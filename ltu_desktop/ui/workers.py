"""Workers that live on their own QThreads; they emit signals and never touch widgets.

`EngineWorker` owns the engine: the model is loaded, used and freed on one thread (CUDA
contexts and big models stay there). Requests go into a locked queue from the UI thread and a
queued signal wakes the worker, which handles them one at a time in order. Asking or
transcribing while no model is loaded parks the request until a model loads, so nothing the
person asked is lost. Stop and cancel are threading.Events the engine itself checks, so they
work while the worker is busy. The engine and torch are imported only inside this thread.
"""

from __future__ import annotations

import gc
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from ..audio.io import IncomingAudio
from ..settings import ModelChoice


@dataclass
class LoadRequest:
    choice: ModelChoice | None
    device: str = "auto"
    precision: str = "auto"
    profile: object = None  # a ready engine Profile (tests, --screenshot); wins over `choice`
    fallback: bool = False  # reloading the model that worked (or the demo) after another load failed
    transcripts: str = "auto"  # the transcript backend (models.transcripts.BACKENDS)
    cancel: threading.Event = field(default_factory=threading.Event)
    # Audio of the clips waiting for a transcript; the worker sets it so they are transcribed while the LLM loads.
    waiting_audio: Callable[[], list] | None = None

    def label(self) -> str:
        if self.profile is not None:
            return self.profile.describe()
        return self.choice.label() if self.choice else "model"

    def again(self, fallback: bool = True) -> LoadRequest:
        """The same model once more, with a fresh cancel switch."""
        return LoadRequest(self.choice, self.device, self.precision, self.profile, fallback,
                           transcripts=self.transcripts)


@dataclass
class TranscribeRequest:
    clip_id: int
    audio: object
    stored: dict = field(default_factory=dict)  # the history's transcripts of this audio, by ASR model
    live: str = ""  # the recording (its path) transcribed while it was made: only its rest is transcribed now


@dataclass
class LiveRequest:
    """What was recorded since the last request, to transcribe the take while it goes on (sent only while the
    worker is idle; the worker keeps the take's audio so far)."""

    path: str
    samples: object  # numpy float32 at `rate`: the new samples only
    rate: int


@dataclass
class LiveResult:
    path: str
    segments: tuple  # engine Segments: the settled ones first
    settled: int  # how many of them no longer change
    heard: float  # seconds of the recording this covers


@dataclass
class AskRequest:
    exchange_id: int
    clip_id: int
    audio: object
    window: tuple[float, float] | None  # None: the whole clip (a model that reads only the transcript)
    question: str
    transcript: str | None  # None: the engine's own ASR text; a str: the person's edited text
    settings: dict = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    side: int = 0  # in a comparison: 0 for the loaded model, 1 for the other one


@dataclass
class CompareRequest:
    """One question for the loaded model and then another (`other`), each answer a side of its own.
    The sides share one stop switch: Stop ends the comparison, a side not started yet is kept as stopped."""

    sides: tuple[AskRequest, AskRequest]
    other: object  # compare_models.ModelOption: `label`, and `resolve(progress)` gives its engine Profile

    @property
    def exchange_ids(self) -> tuple[int, ...]:
        return tuple(s.exchange_id for s in self.sides)


@dataclass
class ModelInfo:
    label: str
    device: str
    precision: str
    memory_mb: float
    hears_audio: bool = True  # False for the demo profile, which answers from the transcript alone
    reads_transcript: bool = True  # False for LTU, which hears the sound only (the transcript is for the person)
    window_seconds: float = 10.0  # how much of the clip the model hears at once (0: nothing)
    asr_model: str = ""  # which ASR model makes the transcripts: the key of the stored ones
    transcript_backend: str = ""  # "openai-whisper" or "CTranslate2 <type>": shown beside the transcript
    trainable: bool = True  # whether Model > Fine-tune can start from it (LTU-AS, LTU; not the demo)
    request: LoadRequest | None = None  # the load that made this model (on `loaded` only)


@dataclass
class AnswerResult:
    request: AskRequest
    answer: object  # engine Answer
    model: ModelInfo
    settings: dict  # the generation settings in effect
    window: tuple[float, float] | None = None  # what the model heard (its own window length)


@dataclass
class TranscriptResult:
    request: TranscribeRequest
    transcript: object  # engine Transcript
    asr_model: str = ""
    data: dict | None = None  # the transcript as plain data to store; None when it came from the store


Loader = Callable[[LoadRequest, Callable[[str, float], None]], object]


def load_engine(request: LoadRequest, progress: Callable[[str, float], None]):
    """The real loader: resolve the profile, then the engine's strict Engine.load."""
    from ..engine.engine import Engine
    from ..models.transcripts import with_transcripts

    profile = request.profile or with_transcripts(profile_for(request.choice or ModelChoice(), progress),
                                                  request.transcripts, progress)
    return Engine.load(profile, device=request.device, precision=request.precision, progress=progress,
                       cancel=request.cancel, early_clips=request.waiting_audio)


def profile_for(choice: ModelChoice, progress: Callable[[str, float], None]):
    from ..models import profiles

    if choice.kind == "demo":
        return profiles.demo_profile(progress)
    missing = choice.missing()
    if missing:
        from ..engine.types import CheckpointError

        raise CheckpointError("; ".join(missing))
    if choice.kind == "run":
        return profiles.run_profile(Path(choice.run))

    def path(value: str) -> Path | None:
        return Path(value) if value else None

    return profiles.profile_from_files(path(choice.llm), path(choice.adapter), path(choice.feature_whisper),
                                       path(choice.asr_whisper))


def transcript_data(transcript) -> dict:
    """An engine Transcript as the plain data the history stores."""
    return {"text": transcript.text, "language": transcript.language, "no_speech": bool(transcript.no_speech),
            "segments": [[s.start, s.end, s.text] for s in transcript.segments]}


def transcript_from(data: dict):
    from ..engine.types import Segment, Transcript

    return Transcript(str(data.get("text", "")), tuple(Segment(float(a), float(b), str(t))
                                                       for a, b, t in data.get("segments", ())),
                      data.get("language"), bool(data.get("no_speech")))


def asr_key(engine) -> str:
    """Names the ASR model by file name and size, and a backend other than openai-whisper: a transcript is
    reused only from the same model run the same way."""
    path = getattr(engine.profile, "asr_whisper", None)
    if path is None:
        return ""
    path = Path(path)
    backend = getattr(engine, "transcript_backend", "")
    suffix = f":{backend}" if backend not in ("", "openai-whisper") else ""
    try:
        return f"{path.name}:{(path / 'model.bin' if path.is_dir() else path).stat().st_size}{suffix}"
    except OSError:
        return path.name + suffix


def describe_error(exc: BaseException) -> str:
    """One clear line for the person; engine errors are already worded for them."""
    name = type(exc).__name__
    if isinstance(exc, MemoryError) or "OutOfMemory" in name:
        return (
            "Out of memory. Choose a smaller precision (bf16/fp16), the CPU, or a smaller model, "
            "and close other programs using the GPU."
        )
    text = str(exc).strip() or name
    if _expected(exc) or isinstance(exc, (OSError, ValueError)):
        return text
    return f"{name}: {text}"


def _raise_cancelled() -> None:
    from ..engine.types import Cancelled

    raise Cancelled("Loading was cancelled.")


def _expected(exc: BaseException) -> bool:
    """Errors already worded for a person need no traceback on stderr."""
    return any(c.__name__ in ("EngineError", "AudioError") for c in type(exc).__mro__)


class EngineWorker(QObject):
    """Owns the engine on its thread; see the module docstring for the request flow."""

    progress = Signal(str, float)  # loading stage, fraction 0..1 (negative: unknown)
    loaded = Signal(object)  # ModelInfo
    unloaded = Signal()
    started = Signal(object)  # the request now being handled
    waiting = Signal(object)  # a request parked until a model is loaded
    token = Signal(str)  # a piece of the answer being streamed
    answered = Signal(object)  # AnswerResult (also for stopped answers)
    transcribed = Signal(object)  # TranscriptResult
    segment = Signal(object, object)  # TranscribeRequest, engine Segment: as soon as it is recognized
    live = Signal(object)  # LiveResult
    failed = Signal(object, str)  # request, message
    compared = Signal(object, str)  # CompareRequest, how: "shared base" | "all loaded" | "one at a time"
    compareProgress = Signal(object, str)  # the side whose model is loading, stage
    _wake = Signal()
    _close = Signal()

    def __init__(self, loader: Loader | None = None) -> None:
        super().__init__()
        self._loader = loader or load_engine
        self._lock = threading.Lock()
        self._queue: deque = deque()
        self._parked: list = []
        self._current = None
        self._engine = None
        self._info: ModelInfo | None = None
        self._comparison = None  # engine.compare.Comparison of the loaded engine and the last other model
        self._closing = False
        self._transcripts: dict[str, object] = {}  # by content hash, for the loaded engine
        self._live: dict[str, object] = {}  # engine LiveTranscript by recording path
        self._takes: dict[str, IncomingAudio] = {}  # its audio so far, by path: kept when the model changes
        self._wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)
        self._close.connect(self._shutdown, Qt.ConnectionType.QueuedConnection)

    # --- called from the UI thread -------------------------------------------------------
    def submit(self, request) -> None:
        with self._lock:
            if isinstance(request, LoadRequest):
                for old in [r for r in self._queue if isinstance(r, LoadRequest)]:
                    self._queue.remove(old)
                if isinstance(self._current, LoadRequest):
                    self._current.cancel.set()
            self._queue.append(request)
        self._wake.emit()

    def discard(self, exchange_id: int) -> bool:
        """Drop a question that has not started; True if it was still waiting."""
        with self._lock:
            for pool in (self._queue, self._parked):
                for r in list(pool):
                    if isinstance(r, AskRequest) and r.exchange_id == exchange_id or \
                            isinstance(r, CompareRequest) and exchange_id in r.exchange_ids:
                        pool.remove(r)
                        return True
        return False

    def stop_current(self) -> None:
        current = self._current
        if isinstance(current, AskRequest):
            current.stop.set()
        elif isinstance(current, CompareRequest):
            current.sides[0].stop.set()
        elif isinstance(current, LoadRequest):
            current.cancel.set()

    def cancel_load(self) -> None:
        """Cancel the running and the waiting load; each then reports `failed` as cancelled."""
        with self._lock:
            for r in [*self._queue, self._current]:
                if isinstance(r, LoadRequest):
                    r.cancel.set()

    def busy(self) -> bool:
        return self._current is not None or bool(self._queue)

    @property
    def engine(self):
        """The loaded engine, None while none is: the local API server shares it (its lock serialises them)."""
        return self._engine

    def close(self) -> None:
        """Stop what runs, forget what waits, free the engine on its thread and end the thread."""
        self._closing = True
        with self._lock:
            self._queue.clear()
            self._parked.clear()
        self.stop_current()
        self._close.emit()

    # --- on the worker thread ------------------------------------------------------------
    @Slot()
    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._current = None
                    return
                request = self._current = self._queue.popleft()
            try:
                self._handle(request)
            except Exception as exc:  # a worker must survive anything a request throws
                self._report(request, exc)
            finally:
                self._current = None

    def _report(self, request, exc: Exception) -> None:
        if not _expected(exc):
            traceback.print_exc(file=sys.stderr)
        self.failed.emit(request, describe_error(exc))

    def _handle(self, request) -> None:
        if isinstance(request, LoadRequest):
            self._load(request)
        elif isinstance(request, LiveRequest):
            self._update_live(request)
        elif self._engine is None:
            with self._lock:
                self._parked.append(request)
            self.waiting.emit(request)
        elif isinstance(request, TranscribeRequest):
            self.started.emit(request)
            key = self._info.asr_model if self._info else ""
            stored = request.stored.get(key) if key else None
            if stored is not None:
                transcript, data = transcript_from(stored), None
            else:
                transcript = self._transcribe(request)
                data = transcript_data(transcript)
            self._transcripts[request.audio.content_hash] = transcript
            self.transcribed.emit(TranscriptResult(request, transcript, key, data))
            # The first window's features too, while the person types: the first question then waits only
            # for its own prompt. A failure here is left for that question to report, where it belongs.
            try:
                self._engine.prepare(request.audio, transcript=transcript)
            except Exception:
                pass
        elif isinstance(request, AskRequest):
            self._ask(request)
        elif isinstance(request, CompareRequest):
            self._compare(request)

    def _transcribe(self, request: TranscribeRequest):
        self._takes.pop(request.live, None)
        live = self._live.pop(request.live, None) if request.live else None
        if live is not None:
            return live.finish(request.audio)
        return self._engine.transcribe(request.audio, on_segment=lambda s: self.segment.emit(request, s))

    def _update_live(self, request: LiveRequest) -> None:
        """The new samples join the take (resampled once); without a model (or one without ASR) nothing is
        transcribed live, and Stop then transcribes the take."""
        take = self._takes.get(request.path)
        if take is None:  # one take at a time: an abandoned one is dropped
            take = IncomingAudio(request.rate, request.path)
            self._takes, self._live = {request.path: take}, {}
        if len(request.samples):
            take.append(request.samples)
        make = getattr(self._engine, "live_transcript", None)
        if make is None or getattr(self._engine, "transcriber", True) is None or not take.audio.duration:
            return
        live = self._live.get(request.path)
        if live is None:
            live = self._live[request.path] = make()
        segments = live.update(take.audio)
        self.live.emit(LiveResult(request.path, segments, len(live.settled), live.heard))

    def _load(self, request: LoadRequest) -> None:
        self.started.emit(request)
        self._free()
        self.unloaded.emit()

        def progress(stage: str, fraction: float) -> None:
            if request.cancel.is_set():
                _raise_cancelled()
            self.progress.emit(stage, float(fraction))

        progress(f"Loading {request.label()}", -1.0)
        request.waiting_audio = self._waiting_audio
        self._engine = self._loader(request, progress)
        self._info = self._model_info()
        self.loaded.emit(replace(self._info, request=request))
        with self._lock:
            self._queue.extendleft(reversed(self._parked))
            self._parked.clear()

    def _waiting_audio(self) -> list:
        with self._lock:
            return [r.audio for r in (*self._parked, *self._queue) if isinstance(r, TranscribeRequest) and not r.stored]

    def _ask(self, request: AskRequest) -> None:
        self.started.emit(request)
        result = self._answer_with(self._engine, request)
        self._info = result.model
        self.answered.emit(result)

    def _answer_with(self, engine, request: AskRequest) -> AnswerResult:
        from ..engine.types import GenerationSettings

        known = {f.name for f in fields(GenerationSettings)}
        given = {k: v for k, v in request.settings.items() if k in known}
        defaults = getattr(engine, "default_settings", None)  # the family's: greedy for the demo
        settings = defaults(**given) if defaults is not None else GenerationSettings(**given)
        clip = engine.prepare(request.audio, window=request.window,
                              transcript=self._transcripts.get(request.audio.content_hash))
        for piece in engine.answer(clip, request.question, transcript=request.transcript, settings=settings,
                                   stop=request.stop):
            self.token.emit(piece)
        return AnswerResult(request, engine.last_answer, self._model_info(engine), settings.to_dict(),
                            tuple(clip.window))

    def _compare(self, request: CompareRequest) -> None:
        """The loaded model answers first; then engine.compare decides how the other one joins it: on a shared
        base, loaded beside it, or in its turn (the loaded one is then released, and loaded again afterwards)."""
        from ..engine.types import Cancelled

        first, second = request.sides
        try:
            self._ask(first)
        except Exception as exc:
            self._report(first, exc)
        self.started.emit(second)
        turns, comparison = False, None

        def progress(stage: str, fraction: float) -> None:
            if second.stop.is_set() and turns:  # a shared base is never left half attached
                raise Cancelled("Stopped while this model was loading.")
            self.compareProgress.emit(second, stage)

        try:
            if second.stop.is_set():
                raise Cancelled("Stopped before this model's turn.")
            comparison = self._comparison_for(request.other, progress)
            self.compared.emit(request, comparison.how)
            turns = comparison.how == "one at a time"
            if turns:
                self._engine = None
                comparison.done_with(0)
            self.answered.emit(self._answer_with(comparison.engine(1), second))
        except Cancelled:
            self.answered.emit(self._stopped(second, request.other.label))
        except Exception as exc:
            self._report(second, exc)
        finally:
            if turns and not self._closing:  # the chosen model is loaded again, unless the app is closing
                comparison.done_with(1)
                comparison.progress = lambda stage, fraction: self.progress.emit(stage, fraction)
                self._engine = comparison.engine(0)

    def _comparison_for(self, other, progress: Callable[[str, float], None]):
        from ..engine.compare import load_comparison

        profile = other.resolve(progress)
        c = self._comparison
        if c is not None and c.profiles[1] == profile and c.loaded[0] is self._engine:
            c.progress = progress
            return c
        self._comparison = None
        gc.collect()
        engine = self._engine
        self._comparison = load_comparison([engine.profile, profile], engine.device, engine.precision, progress,
                                           loaded=engine)
        return self._comparison

    def _stopped(self, request: AskRequest, label: str) -> AnswerResult:
        """A side that never ran: kept as stopped, with nothing said."""
        from ..engine.types import Answer, Stats

        answer = Answer("", [], True, Stats(device="", precision=""), heard_audio=request.window is not None)
        return AnswerResult(request, answer, ModelInfo(label, "", "", 0.0), dict(request.settings))

    def _model_info(self, engine=None) -> ModelInfo:
        from ..train.model import TRAINABLE_KINDS  # torch, on this thread only

        engine = engine or self._engine
        try:
            memory = float(engine.memory_mb())
        except Exception:
            memory = 0.0
        return ModelInfo(engine.profile.describe(), str(engine.device), str(engine.precision), memory,
                         engine.hears_audio, bool(getattr(engine, "reads_transcript", True)),
                         float(getattr(engine, "window_seconds", 10.0)), asr_key(engine),
                         str(getattr(engine, "transcript_backend", "")),
                         trainable=engine.profile.kind in TRAINABLE_KINDS)

    def _free(self) -> None:
        self._comparison = None
        if self._engine is None:
            return
        self._engine = self._info = None
        self._transcripts.clear()
        self._live.clear()
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    @Slot()
    def _shutdown(self) -> None:
        self._free()
        QThread.currentThread().quit()


class EngineThread:
    """An EngineWorker on its own QThread, started at once; `close()` ends both."""

    def __init__(self, loader: Loader | None = None) -> None:
        self.thread = QThread()
        self.thread.setObjectName("engine")
        self.worker = EngineWorker(loader)
        self.worker.moveToThread(self.thread)
        self.thread.start()

    def close(self, timeout_ms: int = 30_000) -> bool:
        if not self.thread.isRunning():
            return True
        self.worker.close()
        return self.thread.wait(timeout_ms)


@dataclass
class DecodedFile:
    path: str
    audio: object  # Audio
    envelope: object  # numpy (2, bins)
    recorded: bool
    content_hash: str = ""  # of the decoded samples: how the history knows a clip again


class AudioFileWorker(QObject):
    """Decodes and resamples files off the UI thread (a long MP3 takes a while)."""

    decoded = Signal(object)  # DecodedFile
    failed = Signal(str, str)  # path, message
    _request = Signal(str, bool)

    def __init__(self) -> None:
        super().__init__()
        self._request.connect(self._decode, Qt.ConnectionType.QueuedConnection)

    def open(self, path: str, recorded: bool = False) -> None:
        self._request.emit(path, recorded)

    @Slot(str, bool)
    def _decode(self, path: str, recorded: bool) -> None:
        from ..audio.io import load_audio
        from .waveform_view import envelope

        try:
            audio = load_audio(path)
            self.decoded.emit(DecodedFile(path, audio, envelope(audio.samples), recorded, audio.content_hash))
        except Exception as exc:
            self.failed.emit(path, describe_error(exc))


class AudioFileThread:
    def __init__(self) -> None:
        self.thread = QThread()
        self.thread.setObjectName("audio-files")
        self.worker = AudioFileWorker()
        self.worker.moveToThread(self.thread)
        self.thread.start()

    def close(self) -> None:
        self.thread.quit()
        self.thread.wait(10_000)
