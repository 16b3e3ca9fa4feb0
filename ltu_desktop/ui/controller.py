"""The session's logic between the views and the workers: clips in, questions out, results routed back.

The main window builds widgets and menus; this object decides what a click or a worker signal
means for the session's data (ui.session) and which view to refresh. It never blocks: file
decoding and everything the engine does happen on worker threads.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Signal

from ..settings import ModelChoice
from .chat_view import ChatView
from .clip_list import ClipList
from .message_bar import MessageBar
from .model_status import ModelStatus
from .session import ClipEntry, Exchange, display_name
from .transcript_view import TranscriptView
from .waveform_view import WaveformView
from .workers import (
    AnswerResult,
    AskRequest,
    AudioFileThread,
    DecodedFile,
    EngineThread,
    Loader,
    LoadRequest,
    ModelInfo,
    TranscribeRequest,
    TranscriptResult,
)


class Controller(QObject):
    clipAdded = Signal(object)  # ClipEntry
    clipSelected = Signal(object)  # ClipEntry or None
    transcriptReady = Signal(object)  # ClipEntry
    exchangeFinished = Signal(object)  # Exchange (done, stopped, failed or cancelled)
    modelLoaded = Signal(object)  # ModelInfo
    modelFailed = Signal(str)
    fileFailed = Signal(str, str)  # path, message

    def __init__(
        self,
        chat: ChatView,
        transcript: TranscriptView,
        waveform: WaveformView,
        clip_list: ClipList,
        model_status: ModelStatus,
        messages: MessageBar,
        loader: Loader | None = None,
    ) -> None:
        super().__init__()
        self.chat, self.transcript, self.waveform = chat, transcript, waveform
        self.clip_list, self.model_status, self.messages = clip_list, model_status, messages
        self.clips: dict[int, ClipEntry] = {}
        self.current: ClipEntry | None = None
        self.model: ModelInfo | None = None
        self.generation: dict = {}
        self._asking: AskRequest | None = None
        self._requests: dict[int, AskRequest] = {}
        self._load: LoadRequest | None = None

        self.engine = EngineThread(loader)
        w = self.engine.worker
        w.progress.connect(self.model_status.set_progress)
        w.started.connect(self._started)
        w.waiting.connect(self._waiting)
        w.token.connect(self._token)
        w.answered.connect(self._answered)
        w.transcribed.connect(self._transcribed)
        w.failed.connect(self._failed)
        w.loaded.connect(self._loaded)
        w.unloaded.connect(self._unloaded)
        self.files = AudioFileThread()
        self.files.worker.decoded.connect(self._decoded)
        self.files.worker.failed.connect(self._decode_failed)  # a method, so it runs on this (the UI) thread

        clip_list.clipSelected.connect(self.select)
        clip_list.filesDropped.connect(self.add_files)
        clip_list.removeRequested.connect(self.remove)
        chat.askRequested.connect(self.ask)
        chat.stopRequested.connect(self.stop)
        chat.regenerateRequested.connect(self.regenerate)
        chat.cancelRequested.connect(self.cancel)
        transcript.edited.connect(self._edited)
        waveform.windowMoved.connect(self._window_moved)
        model_status.cancelRequested.connect(self.cancel_load)

    # --- model -----------------------------------------------------------------------------
    def load_model(
        self, choice: ModelChoice | None = None, device: str = "auto", precision: str = "auto", profile=None
    ) -> None:
        """Load in the worker; questions asked meanwhile wait in its queue."""
        self._load = LoadRequest(choice or ModelChoice(), device, precision, profile)
        self.model_status.set_loading(True, self._load.label())
        self.engine.worker.submit(self._load)

    def cancel_load(self) -> None:
        self.engine.worker.cancel_load()

    def _loaded(self, info: ModelInfo) -> None:
        self.model = info
        self.model_status.set_model(info.label, info.device, info.precision, info.memory_mb)
        self.modelLoaded.emit(info)

    def _unloaded(self) -> None:
        self.model = None

    # --- clips -----------------------------------------------------------------------------
    def add_files(self, paths: list[str], recorded: bool = False) -> None:
        for path in paths:
            self.files.worker.open(str(path), recorded)

    def _decoded(self, f: DecodedFile) -> None:
        clip = ClipEntry(display_name(f.path), f.audio, f.path, f.recorded, f.envelope)
        self.clips[clip.id] = clip
        self.engine.worker.submit(TranscribeRequest(clip.id, clip.audio))
        self.clip_list.add_clip(clip.id, clip.name, clip.duration, clip.recorded)  # selects it
        self.clipAdded.emit(clip)

    def _decode_failed(self, path: str, message: str) -> None:
        self.messages.show_message(message)
        self.fileFailed.emit(path, message)

    def select(self, clip_id: int | None) -> None:
        clip = self.clips.get(clip_id) if clip_id is not None else None
        self.current = clip
        if clip is None:
            self.waveform.set_clip(None, 0.0)
        else:
            self.waveform.set_clip(clip.envelope, clip.duration, clip.window_start)
        self.transcript.show_clip(clip)
        self.chat.show_clip(clip.id if clip else None)
        self.clipSelected.emit(clip)

    def remove(self, clip_id: int) -> None:
        clip = self.clips.pop(clip_id, None)
        if clip is None:
            return
        for e in clip.exchanges:
            if e.pending:
                self.cancel(e.id)
        self.clip_list.select(clip_id)
        self.clip_list.remove_current()
        self.chat.remove_clip(clip_id)
        if self.clip_list.count() == 0:
            self.select(None)

    def _window_moved(self, start: float) -> None:
        if self.current is not None:
            self.current.window_start = start

    def _edited(self, text: str | None) -> None:
        if self.current is not None:
            self.current.edited_text = text

    def _refresh_transcript(self, clip: ClipEntry) -> None:
        if clip is self.current:
            self.transcript.show_clip(clip)

    # --- questions -------------------------------------------------------------------------
    def ask(self, question: str, regenerated: bool = False) -> Exchange | None:
        clip = self.current
        question = question.strip()
        if clip is None or not question:
            return None
        override = clip.transcript_override()
        e = Exchange(question, clip.window(), override is not None, regenerated=regenerated)
        clip.exchanges.append(e)
        self.chat.add_exchange(clip.id, e)
        request = AskRequest(e.id, clip.id, clip.audio, e.window, question, override, dict(self.generation))
        self._requests[e.id] = request
        self.engine.worker.submit(request)
        return e

    def regenerate(self, exchange_id: int) -> None:
        old = self.current.find(exchange_id) if self.current else None
        if old is not None:
            self.ask(old.question, regenerated=True)

    def stop(self) -> None:
        """Stop the answer being generated; its partial text is kept and marked stopped."""
        if self._asking is not None:
            self._asking.stop.set()

    def cancel(self, exchange_id: int) -> None:
        request = self._requests.get(exchange_id)
        if request is None:
            return
        if self.engine.worker.discard(exchange_id):
            self._finish(request, "cancelled")
        else:
            request.stop.set()

    def busy(self) -> bool:
        return self._asking is not None

    def _exchange(self, request: AskRequest) -> Exchange | None:
        clip = self.clips.get(request.clip_id)
        return clip.find(request.exchange_id) if clip else None

    def _set_state(self, request: AskRequest, state: str) -> None:
        e = self._exchange(request)
        if e is not None:
            e.state = state
            self.chat.refresh(e)

    def _finish(self, request: AskRequest, state: str, error: str = "") -> None:
        self._requests.pop(request.exchange_id, None)
        if self._asking is request:
            self._asking = None
            self.chat.set_busy(False)
        e = self._exchange(request)
        if e is None:
            return
        e.state, e.error, e.answered_at = state, error, time.time()
        e.answer = e.answer.strip()
        self.chat.refresh(e)
        self.exchangeFinished.emit(e)

    # --- worker signals --------------------------------------------------------------------
    def _started(self, request) -> None:
        if isinstance(request, AskRequest):
            self._asking = request
            self.chat.set_busy(True)
            self._set_state(request, "thinking")
        elif isinstance(request, TranscribeRequest):
            clip = self.clips.get(request.clip_id)
            if clip is not None:
                clip.transcript_state = "running"
                self._refresh_transcript(clip)
        elif isinstance(request, LoadRequest):
            self.model_status.set_loading(True, request.label())

    def _waiting(self, request) -> None:
        if isinstance(request, AskRequest):
            self._set_state(request, "waiting")
        elif isinstance(request, TranscribeRequest):
            clip = self.clips.get(request.clip_id)
            if clip is not None:
                clip.transcript_state = "waiting"
                self._refresh_transcript(clip)

    def _token(self, piece: str) -> None:
        e = self._exchange(self._asking) if self._asking else None
        if e is None:
            return
        if e.state != "streaming":
            e.state = "streaming"
            e.answer += piece
            self.chat.refresh(e)
        else:
            e.answer += piece
            self.chat.show_text(e)

    def _answered(self, result: AnswerResult) -> None:
        answer, info = result.answer, result.model
        e = self._exchange(result.request)
        if e is not None:
            e.answer = answer.text
            e.transcript_used = answer.transcript_used
            e.stats = answer.stats.to_dict()
            e.settings = dict(result.settings)
            e.model = info.label
            e.device = answer.stats.device or info.device
            e.precision = answer.stats.precision or info.precision
        self.model = info
        self.model_status.set_model(info.label, info.device, info.precision, info.memory_mb)
        self._finish(result.request, "stopped" if answer.stopped else "done")

    def _transcribed(self, result: TranscriptResult) -> None:
        clip = self.clips.get(result.request.clip_id)
        if clip is None:
            return
        clip.transcript, clip.transcript_state = result.transcript, "done"
        self._refresh_transcript(clip)
        self.transcriptReady.emit(clip)

    def _failed(self, request, message: str) -> None:
        if isinstance(request, LoadRequest):
            if request is not self._load:
                return  # replaced by a newer choice; that one reports
            self._load = None
            if request.cancel.is_set():
                self.model_status.set_model("No model loaded (loading cancelled)")
                self.messages.show_message("Loading the model was cancelled.", "info")
            else:
                self.model_status.set_model("No model loaded")
                self.messages.show_message(f"Could not load the model: {message}")
            self.modelFailed.emit(message)
        elif isinstance(request, AskRequest):
            self.messages.show_message(f"The answer failed: {message}")
            self._finish(request, "failed", message)
        elif isinstance(request, TranscribeRequest):
            clip = self.clips.get(request.clip_id)
            if clip is not None:
                clip.transcript_state, clip.transcript_error = "failed", message
                self._refresh_transcript(clip)
                self.transcriptReady.emit(clip)

    def close(self) -> bool:
        """Stop everything; False when the engine thread did not end in time (a load that ignores cancel)."""
        if self._asking is not None:
            self._asking.stop.set()
        self.files.close()
        return self.engine.close()
