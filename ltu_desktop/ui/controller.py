"""The session's logic between the views and the workers: clips in, questions out, results routed back.

The main window builds widgets and menus; this object decides what a click or a worker signal
means for the session's data (ui.session), which view to refresh and what the history saves. It
never waits on the engine: file decoding and everything the engine does happen on worker threads;
history writes are short SQLite commits on this thread, a streamed answer at most every SAVE_MS.
Ask both (compare_controller.Comparing) and a take being recorded (live_controller.LiveTake) are mixed in.
"""

from __future__ import annotations

import time
from dataclasses import replace

from PySide6.QtCore import QObject, QTimer, Signal

from ..settings import ModelChoice
from .chat_view import ChatView
from .clip_list import ClipList
from .compare_controller import Comparing
from .history_bridge import CLOSED, HistoryBridge, conversation_label, entry_for, exchange_for
from .live_controller import LiveTake
from .message_bar import MessageBar
from .model_status import ModelStatus
from .session import WINDOW_S, ClipEntry, Exchange, display_name
from .transcript_view import TranscriptView
from .waveform_view import WaveformView
from .workers import (
    AnswerResult,
    AskRequest,
    AudioFileThread,
    CompareRequest,
    DecodedFile,
    EngineThread,
    Loader,
    LoadRequest,
    ModelInfo,
    TranscribeRequest,
    TranscriptResult,
)

SAVE_MS = 300  # a streaming answer is saved this often: a crash loses at most this much of it
LTU_NOTE = ("This model does not read the transcript: it hears the sound only (the window on the waveform). "
            "The transcript is shown for you.")


class Controller(Comparing, LiveTake, QObject):
    clipAdded = Signal(object)  # ClipEntry
    clipSelected = Signal(object)  # ClipEntry or None
    transcriptReady = Signal(object)  # ClipEntry
    exchangeFinished = Signal(object)  # Exchange (done, stopped, failed or cancelled)
    modelLoaded = Signal(object)  # ModelInfo (its `request` says what was loaded)
    modelFailed = Signal(str)
    loadingChanged = Signal(bool)
    busyChanged = Signal()  # an answer started or ended: what Stop may act on changed
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
        history: HistoryBridge | None = None,
    ) -> None:
        super().__init__()
        self.chat, self.transcript, self.waveform = chat, transcript, waveform
        self.clip_list, self.model_status, self.messages = clip_list, model_status, messages
        self.history = history or HistoryBridge.off()
        self.history.report = self.messages.show_message
        self.clips: dict[int, ClipEntry] = {}
        self.current: ClipEntry | None = None
        self.model: ModelInfo | None = None
        self.generation: dict = {}
        self._asking: AskRequest | None = None
        self._requests: dict[int, AskRequest] = {}
        self._pending: dict[int, Exchange] = {}  # by exchange id, until it ends (even if its chat is not shown)
        self._loading: dict[str, list[ClipEntry]] = {}  # history clips whose audio is being decoded, by path
        self._load: LoadRequest | None = None
        self._good: LoadRequest | None = None  # the last load that worked: what a failed load falls back to
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(SAVE_MS)
        self._autosave.timeout.connect(self._save_partial)
        self._init_compare()
        self._init_live()

        self.engine = EngineThread(loader)
        w = self.engine.worker
        w.progress.connect(self.model_status.set_progress)
        w.started.connect(self._started)
        w.waiting.connect(self._waiting)
        w.token.connect(self._token)
        w.answered.connect(self._answered)
        w.transcribed.connect(self._transcribed)
        w.segment.connect(self._segment)
        w.live.connect(self._live)
        w.failed.connect(self._failed)
        w.compared.connect(self._compared)
        w.compareProgress.connect(self._compare_progress)
        w.loaded.connect(self._loaded)
        w.unloaded.connect(self._unloaded)
        self.files = AudioFileThread()
        self.files.worker.decoded.connect(self._decoded)
        self.files.worker.failed.connect(self._decode_failed)  # a method, so it runs on this (the UI) thread

        clip_list.clipSelected.connect(self.select)
        clip_list.conversationSelected.connect(self.select)
        clip_list.filesDropped.connect(self.add_files)
        chat.askRequested.connect(self.ask)
        chat.askBothRequested.connect(self.ask_both)
        chat.stopRequested.connect(self.stop)
        chat.regenerateRequested.connect(self.regenerate)
        chat.cancelRequested.connect(self.cancel)
        chat.trainingMarked.connect(self.mark_for_training)
        transcript.edited.connect(self._edited)
        waveform.windowMoved.connect(self._window_moved)
        model_status.cancelRequested.connect(self.cancel_load)
        self._show_history()

    # --- model -----------------------------------------------------------------------------
    def load_model(
        self, choice: ModelChoice | None = None, device: str = "auto", precision: str = "auto", profile=None,
        transcripts: str = "auto",
    ) -> None:
        """Load in the worker; questions asked meanwhile wait in its queue."""
        self._submit_load(LoadRequest(choice or ModelChoice(), device, precision, profile, transcripts=transcripts))

    def _submit_load(self, request: LoadRequest) -> None:
        self._load = request
        self.model_status.set_loading(True, request.label())
        self.loadingChanged.emit(True)
        self.engine.worker.submit(request)

    def loading(self) -> bool:
        return self._load is not None

    def cancel_load(self) -> None:
        self.engine.worker.cancel_load()

    def _loaded(self, info: ModelInfo) -> None:
        if info.request is self._load:
            self._load = None
            self.loadingChanged.emit(False)
        self._good = info.request.again() if info.request is not None else self._good
        self.model = info
        self.model_status.set_model(info.label, info.device, info.precision, info.memory_mb)
        self._show_model_kind()
        self.modelLoaded.emit(info)

    def _unloaded(self) -> None:
        self.model = None
        self._show_model_kind()

    def untrainable(self) -> str:
        """The loaded model's short name when it cannot be fine-tuned (the demo); "" when it can or none is."""
        if self.model is None or self.model.trainable:
            return ""
        return self.model.label.split(" (")[0].split(":")[0].strip() or "This model"

    def window_length(self) -> float:
        """How much the loaded model hears; the default window until one is loaded; 0 for a transcript reader."""
        if self.model is None:
            return WINDOW_S
        return self.model.window_seconds if self.model.hears_audio else 0.0

    def _show_model_kind(self) -> None:
        """Neutral until a model is loaded; then what it hears (a window) or that it reads the transcript.
        A model that hears but never reads (LTU) gets questions about sounds and a note on the transcript."""
        state = "none" if self.model is None else "heard" if self.model.hears_audio else "transcript"
        sounds_only = state == "heard" and not self.model.reads_transcript
        self.waveform.set_mode(state, self.window_length() or WINDOW_S)
        self.chat.set_model_kind("sounds" if sounds_only else state)
        self.transcript.set_unread_note(LTU_NOTE if sounds_only else "")
        self.transcript.set_backend(self.model.transcript_backend if self.model is not None else "")
        self.chat.set_untrainable(self.untrainable())
        self._show_window()
        self._offer_compare()

    def _show_window(self) -> None:
        clip = self.current
        heard = self.model is not None and self.model.hears_audio
        window = clip.window(self.window_length()) if clip is not None and clip.audio is not None and heard else None
        self.transcript.set_window(window)

    # --- clips -----------------------------------------------------------------------------
    def add_files(self, paths: list[str], recorded: bool = False) -> None:
        for path in paths:
            self.files.worker.open(str(path), recorded)

    def _show_history(self) -> None:
        """The saved clips with their conversations; their audio is decoded when one is opened."""
        summaries: dict[int, list] = {}
        for summary in self.history.summaries():
            summaries.setdefault(summary.clip_id, []).append(summary)
        for record in reversed(self.history.clips()):  # oldest first: each new row goes on top
            self._add_entry(entry_for(record), select=False, summaries=summaries.get(record.id, []))

    def _add_entry(self, clip: ClipEntry, select: bool, summaries: list | None = None) -> None:
        self.clips[clip.id] = clip
        self.clip_list.add_clip(clip.id, clip.name, clip.duration, clip.recorded, bool(clip.missing), select=False)
        if clip.store_id is not None:
            for s in reversed(summaries if summaries is not None else self.history.summaries(clip.store_id)):
                self.clip_list.set_conversation(clip.id, s.id, *conversation_label(s.first_question,
                                                                                   s.message_count, s.created_at))
        if select:
            self.clip_list.select(clip.id)

    def _decoded(self, f: DecodedFile) -> None:
        loads = self._loading.pop(f.path, [])
        waiting = next((c for c in loads if c.content_hash == f.content_hash), None)
        for old in loads:
            old.loading = False
            if old is not waiting:
                old.missing = (f"The file {f.path} has changed since these conversations, so no new questions can "
                               "be asked about this clip. Open the file as a new clip to ask about it.")
                self._refresh_clip(old)
        if loads and waiting is None:
            return  # the file changed: its new sound was not asked for
        clip = waiting or next((c for c in self.clips.values() if c.content_hash == f.content_hash), None)
        if clip is not None and clip.audio is not None:
            self.clip_list.select(clip.id)  # opened again: show the one there is
            return
        record = self.history.add_clip(f.path, f.content_hash, f.audio.duration, f.recorded)
        new = clip is None
        if clip is None:
            clip = ClipEntry(display_name(f.path), recorded=f.recorded, content_hash=f.content_hash)
        clip.audio, clip.envelope, clip.missing = f.audio, f.envelope, ""
        clip.path = record.path if record is not None else f.path
        if record is not None and clip.store_id is None:
            clip.store_id = record.id
        live = self._claim_take(f.path, clip.id) if f.recorded else ""
        self.engine.worker.submit(TranscribeRequest(clip.id, clip.audio, self.history.transcripts(f.content_hash),
                                                    live))
        if new:
            self._add_entry(clip, select=True)
        else:
            self._refresh_clip(clip)
            if waiting is None:  # the person opened a file the history knew: show that clip
                self.clip_list.select(clip.id)
        self.clipAdded.emit(clip)

    def _decode_failed(self, path: str, message: str) -> None:
        if self._unopened_take(path):
            self._show(self.current)  # the take's waveform gives way to the clip there is
        loads = self._loading.pop(path, [])
        for clip in loads:
            clip.loading = False
            clip.missing = f"The audio of this clip could not be read, so no new questions can be asked: {message}"
            self._refresh_clip(clip)
        if loads:
            return
        self.messages.show_message(message)
        self.fileFailed.emit(path, message)

    def _refresh_clip(self, clip: ClipEntry) -> None:
        self.clip_list.set_clip(clip.id, clip.name, clip.duration, clip.recorded, bool(clip.missing))
        if clip is self.current:
            self._show(clip)

    def select(self, clip_id: int | None, conversation_id: int | None = None) -> None:
        """Show a clip with its open conversation, or with `conversation_id` (restored from the history)."""
        clip = self.clips.get(clip_id) if clip_id is not None else None
        if clip is not None:
            self._open(clip, conversation_id)
            if clip.audio is None and not clip.missing and not clip.loading:
                clip.loading = True
                self._loading.setdefault(clip.path, []).append(clip)
                self.files.worker.open(clip.path, clip.recorded)
        self.current = clip
        self._show(clip)

    def _show(self, clip: ClipEntry | None) -> None:
        if not self.recording:  # while a take is recorded, the waveform shows it
            self._show_wave(clip)
        self._show_transcript(clip)
        self.chat.show_clip(clip.id if clip else None, clip.ask_problem() if clip else "")
        self._update_stop()
        self.clipSelected.emit(clip)

    def _show_wave(self, clip: ClipEntry | None) -> None:
        if clip is None:
            self.waveform.set_clip(None, 0.0)
        else:
            note = "The audio of this clip cannot be used (see below)." if clip.missing else "Loading the audio…"
            self.waveform.set_clip(clip.envelope, clip.duration, clip.window_start, note)

    def _open(self, clip: ClipEntry, conversation_id: int | None) -> None:
        """The first time: its saved transcript edit and newest conversation; later only another conversation."""
        if clip.store_id is None or (clip.opened and conversation_id in (None, clip.conversation_id)):
            return
        if not clip.opened:
            clip.opened = True
            edited = self.history.edited_transcript(clip.store_id)
            if edited is not None:
                clip.edited_text = edited
            if conversation_id is None:
                newest = self.history.summaries(clip.store_id)
                conversation_id = newest[0].id if newest and not clip.exchanges else None
            if conversation_id is None:
                return
        conversation = self.history.conversation(conversation_id)
        if conversation is None:
            return
        live = {e.message_id: e for e in self._pending.values() if e.message_id is not None}
        marks = self.history.training_marks([m.id for m in conversation.messages])
        clip.exchanges = [live.get(m.id) or exchange_for(m, clip.duration, marks.get(m.id))
                          for m in conversation.messages]
        clip.conversation_id = conversation_id
        windows = [m.window for m in conversation.messages if m.window]
        if windows:
            clip.window_start = windows[-1][0]
        clip.saved_text = next((m.transcript_used for m in reversed(conversation.messages) if m.transcript_used), "")
        self.chat.reset_clip(clip.id, clip.exchanges)
        self.clip_list.mark_open(clip.id, conversation_id)

    def new_conversation(self) -> None:
        """The current clip's next question starts a new conversation; the others stay in the list."""
        clip = self.current
        if clip is None:
            return
        clip.opened, clip.conversation_id, clip.exchanges = True, None, []
        self.chat.reset_clip(clip.id, [])
        self.clip_list.mark_open(clip.id, None)
        self.clip_list.select(clip.id)
        self.chat.focus_input()

    def remove(self, clip_id: int) -> None:
        """Forget a clip in this session (its answers still running are cancelled); the history is not touched."""
        clip = self.clips.pop(clip_id, None)
        if clip is None:
            return
        for exchange_id in [i for i, r in self._requests.items() if r.clip_id == clip_id]:
            self.cancel(exchange_id)
        self.clip_list.remove_clip(clip_id)
        self.chat.remove_clip(clip_id)
        if self.current is clip:  # the list chose no neighbour
            self.select(None)

    def delete(self, keys: list[tuple[str, int]]) -> None:
        """Delete clips (with the recordings the history owns) and conversations, from the history and the view."""
        for kind, ident in keys:
            if kind == "clip":
                clip = self.clips.get(ident)
                if clip is not None and (clip.store_id is None or self.history.delete_clip(clip.store_id)):
                    self.remove(ident)
            else:
                self._delete_conversation(ident)

    def _delete_conversation(self, conversation_id: int) -> None:
        if not self.history.delete_conversation(conversation_id):
            return
        for e in [e for e in self._pending.values() if e.conversation_id == conversation_id]:
            self.cancel(e.id)
        self.clip_list.remove_conversation(conversation_id)
        clip = next((c for c in self.clips.values() if c.conversation_id == conversation_id), None)
        if clip is not None:
            clip.conversation_id, clip.exchanges = None, []
            self.chat.reset_clip(clip.id, [])

    def conversation_ids(self, keys: list[tuple[str, int]]) -> list[int]:
        """The saved conversations of these rows: a clip row stands for all of its conversations."""
        ids: list[int] = []
        for kind, ident in keys:
            for cid in self.clip_list.conversation_ids(ident) if kind == "clip" else [ident]:
                if cid not in ids:
                    ids.append(cid)
        return ids

    def _window_moved(self, start: float) -> None:
        if self.current is not None:
            self.current.window_start = start
            self._show_window()

    def _edited(self, text: str | None) -> None:
        """Saved as the clip's newest transcript edit; a revert saves Whisper's text (the history keeps them all)."""
        clip = self.current
        if clip is None:
            return
        clip.edited_text = text
        if clip.store_id is not None:
            self.history.edit_transcript(clip.store_id, text if text is not None else clip.asr_text())
        self._refresh_transcript(clip)

    def _refresh_transcript(self, clip: ClipEntry) -> None:
        if clip is self.current:
            self._show_transcript(clip)

    def _segment(self, request: TranscribeRequest, segment) -> None:
        clip = self.clips.get(request.clip_id)
        if clip is None or clip.transcript_state != "running":
            return
        clip.partial.append(segment)
        if clip is self.current and not self.recording:
            self.transcript.add_segment(segment, clip.duration)

    # --- questions -------------------------------------------------------------------------
    def ask(self, question: str, regenerated: bool = False) -> Exchange | None:
        clip = self.current
        question = question.strip()
        if clip is None or not question:
            return None
        if clip.ask_problem():
            self.messages.show_message(clip.ask_problem(), "info")
            return None
        e, request = self._new_exchange(clip, question, regenerated)
        self._save_question(clip, e)
        self.chat.add_exchange(clip.id, e)
        self.engine.worker.submit(request)
        return e

    def _new_exchange(self, clip: ClipEntry, question: str, regenerated: bool = False) -> tuple[Exchange, AskRequest]:
        """The exchange shown at once and the request for the worker, for the clip's chosen window."""
        override = clip.transcript_override()
        reads_only = self.model is not None and not self.model.hears_audio
        window = clip.window(self.window_length() or WINDOW_S)
        e = Exchange(question, None if reads_only else window, override is not None, regenerated=regenerated)
        e.transcript_used = override if override is not None else clip.asr_text()
        e.settings = dict(self.generation)
        if reads_only:
            e.settings["mode"] = "transcript"
        clip.exchanges.append(e)
        self._pending[e.id] = e
        request = AskRequest(e.id, clip.id, clip.audio, window, question, override, dict(self.generation))
        self._requests[e.id] = request
        return e, request

    def _save_question(self, clip: ClipEntry, e: Exchange, run: tuple | None = None) -> None:
        """Into the clip's open conversation (the first question starts one) before the model sees it."""
        if clip.store_id is None:
            return
        if clip.conversation_id is None:
            clip.conversation_id = self.history.new_conversation(clip.store_id)
            clip.opened = True
            if clip.conversation_id is None:
                return
        if run is None and self.model is not None:
            run = (self.model.label, self.model.device, self.model.precision)
        elif run is None:
            run = (self._load.label(), self._load.device, self._load.precision) if self._load else (None,) * 3
        e.conversation_id = clip.conversation_id
        e.message_id = self.history.ask(clip.conversation_id, e, *run)
        first = clip.exchanges[0]
        self.clip_list.set_conversation(clip.id, clip.conversation_id,
                                        *conversation_label(first.question, len(clip.exchanges), first.asked_at))
        self.clip_list.mark_open(clip.id, clip.conversation_id)

    def _save_partial(self) -> None:
        e = self._pending.get(self._asking.exchange_id) if self._asking else None
        if e is not None and e.message_id is not None:
            self.history.partial(e.message_id, e.answer)

    def regenerate(self, exchange_id: int) -> None:
        """Ask again; a comparison is asked again as a pair (see Comparing.regenerate_pair)."""
        old = self.current.find(exchange_id) if self.current else None
        if old is not None and old.compare_group:
            self.regenerate_pair(old)
        elif old is not None:
            self.ask(old.question, regenerated=True)

    def mark_for_training(self, exchange_id: int, use: bool, correction: object = None) -> None:
        """Use a finished answer, as the person corrected it, for fine-tuning (or stop using it). The correction is
        saved beside the model's answer, which stays as it was; `correction` None keeps the one there is."""
        e = next((x for c in self.clips.values() for x in c.exchanges if x.id == exchange_id), None)
        if e is None or e.pending:
            return
        if isinstance(correction, str):
            text = correction.strip()
            e.correction = None if not text or text == e.answer.strip() else text
        e.for_training = use
        if use and self.untrainable() and self.chat.noted_mark is None:
            self.chat.note_untrainable(e.id)
        if not self.history.mark_for_training(e) and (not self.history.enabled or e.message_id is None):
            self.messages.show_message("This mark is kept for this session only: the answer is not in the history, "
                                       "where fine-tuning looks for marked answers.", "info")
        self.chat.refresh(e)

    def stop(self) -> None:
        """Stop the visible conversation's own answer (its partial text is kept, marked stopped); an answer of
        another conversation runs on."""
        if self.stoppable():
            self._asking.stop.set()

    def stoppable(self) -> bool:
        """Whether an answer of the conversation on screen is being generated."""
        clip, asking = self.current, self._asking
        return (clip is not None and asking is not None and not asking.stop.is_set()
                and any(e.id == asking.exchange_id for e in clip.exchanges))

    def _update_stop(self) -> None:
        self.chat.set_busy(self.stoppable())
        self.busyChanged.emit()

    def cancel(self, exchange_id: int) -> None:
        request = self._requests.get(exchange_id)
        if request is None:
            return
        if self.engine.worker.discard(exchange_id):
            e = self._pending.get(exchange_id)
            for x in self._compares.get(e.compare_group, []) if e is not None and e.compare_group else [e]:
                if x is not None and x.id in self._requests:  # a comparison waiting goes as a whole
                    self._finish(self._requests[x.id], "cancelled")
        else:
            request.stop.set()

    def busy(self) -> bool:
        return self._asking is not None

    def _exchange(self, request: AskRequest) -> Exchange | None:
        return self._pending.get(request.exchange_id)

    def _set_state(self, request: AskRequest, state: str) -> None:
        e = self._exchange(request)
        if e is not None:
            e.state = state
            self.chat.refresh(e)

    def _finish(self, request: AskRequest, state: str, error: str = "") -> None:
        self._requests.pop(request.exchange_id, None)
        if self._asking is request:
            self._asking = None
            self._autosave.stop()
            self._update_stop()
        e = self._pending.pop(request.exchange_id, None)
        if e is None:
            return
        e.state, e.error, e.answered_at = state, error, time.time()
        e.answer = e.answer.strip()
        if e.compare_group and not any(x.pending for x in self._compares.get(e.compare_group, [])):
            self._compares.pop(e.compare_group, None)
        self.history.finish(e)
        self.chat.refresh(e)
        self.exchangeFinished.emit(e)

    # --- worker signals --------------------------------------------------------------------
    def _started(self, request) -> None:
        if isinstance(request, AskRequest):
            self._asking = request
            self._update_stop()
            e = self._exchange(request)
            if e is not None:
                e.progress = ""  # a compared model's turn has come
            self._set_state(request, "thinking")
        elif isinstance(request, TranscribeRequest):
            clip = self.clips.get(request.clip_id)
            if clip is not None:
                clip.transcript_state, clip.partial = "running", []
                self._refresh_transcript(clip)
        elif isinstance(request, LoadRequest):
            self.model_status.set_loading(True, request.label())

    def _waiting(self, request) -> None:
        if isinstance(request, CompareRequest):
            for side in request.sides:
                self._set_state(side, "waiting")
        elif isinstance(request, AskRequest):
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
        if e.message_id is not None and not self._autosave.isActive():
            self._autosave.start()

    def _answered(self, result: AnswerResult) -> None:
        answer, info, side = result.answer, result.model, result.request.side
        e = self._exchange(result.request)
        if e is not None:
            e.answer = answer.text
            e.transcript_used = answer.transcript_used
            e.stats = answer.stats.to_dict() if answer.stats.device else {}
            kept = {k: e.settings[k] for k in ("compare", "compare_with") if k in e.settings}
            e.settings = dict(result.settings) | kept
            if not answer.heard_audio:
                e.settings["mode"] = "transcript"  # what the model really did, for the history and exports
            if side and answer.heard_audio and result.window:
                e.window = result.window  # the other model's own window length
            e.model = info.label
            e.device = answer.stats.device or info.device
            e.precision = answer.stats.precision or info.precision
            e.progress = ""
        if not side:  # the other model of a comparison is not the loaded one
            self.model = replace(info, request=self.model.request if self.model else None)
            self.model_status.set_model(info.label, info.device, info.precision, info.memory_mb)
        self._finish(result.request, "stopped" if answer.stopped else "done")

    def _transcribed(self, result: TranscriptResult) -> None:
        clip = self.clips.get(result.request.clip_id)
        if clip is None:
            return
        clip.transcript, clip.transcript_state, clip.partial = result.transcript, "done", []
        if result.data is not None and result.asr_model:
            self.history.save_transcript(clip.content_hash, result.asr_model, result.data)
        self._refresh_transcript(clip)
        self.transcriptReady.emit(clip)

    def _failed(self, request, message: str) -> None:
        if isinstance(request, LoadRequest):
            if request is not self._load:
                return  # replaced by a newer choice; that one reports
            self._load = None
            self.loadingChanged.emit(False)
            fallback = None if request.fallback else self._good
            if fallback is None and not request.fallback and not request.cancel.is_set() and (
                    request.profile is None and request.choice and request.choice.kind != "demo"):
                fallback = LoadRequest(ModelChoice(), "auto", "auto", fallback=True)
            again = f" {fallback.label()} is loaded again." if fallback is not None else ""
            if request.cancel.is_set():
                self.messages.show_message(f"Loading {request.label()} was cancelled.{again}", "info")
            else:
                self.messages.show_message(f"Could not load {request.label()}: {message}{again}")
            if fallback is not None:
                self._submit_load(fallback)
            else:
                cancelled = " (loading cancelled)" if request.cancel.is_set() else ""
                self.model_status.set_model(f"No model loaded{cancelled}")
            self.modelFailed.emit(message)
        elif isinstance(request, AskRequest):
            self.messages.show_message(f"The answer failed: {message}")
            self._finish(request, "failed", message)
        elif isinstance(request, CompareRequest):
            self.messages.show_message(f"The comparison failed: {message}")
            for side in request.sides:
                self._finish(side, "failed", message)
        elif isinstance(request, TranscribeRequest):
            clip = self.clips.get(request.clip_id)
            if clip is not None:
                clip.transcript_state, clip.transcript_error = "failed", message
                self._refresh_transcript(clip)
                self.transcriptReady.emit(clip)

    def close(self) -> bool:
        """Stop everything; False when the engine thread did not end in time (a load that ignores cancel).
        Answers not finished by then are saved as interrupted, with the text they had."""
        if self._asking is not None:
            self._asking.stop.set()
        self._stop_live()
        self.files.close()
        clean = self.engine.close()
        self._autosave.stop()
        for e in self._pending.values():
            e.state, e.error = "interrupted", CLOSED
            self.history.finish(e)
        self._pending.clear()
        self.history.close()
        return clean
