"""The main window: layout, menus, shortcuts, dialogs and remembered layout; logic is in Controller."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ..settings import THEMES, Settings, load_settings, recordings_dir, save_settings
from .chat_view import ChatView
from .clip_list import ClipList, local_files
from .controller import Controller
from .export import write_export
from .message_bar import MessageBar
from .model_dialog import ModelDialog
from .model_status import ModelStatus
from .player_bar import PlayerBar
from .record_bar import RecordBar
from .theme import apply_theme
from .transcript_view import TranscriptView
from .waveform_view import WaveformView
from .workers import Loader

AUDIO_FILTER = (
    "Audio files (*.wav *.flac *.ogg *.oga *.opus *.mp3 *.aiff *.aif *.au *.snd *.caf *.w64 *.rf64);;All files (*)"
)


class MainWindow(QMainWindow):
    def __init__(
        self,
        settings: Settings | None = None,
        loader: Loader | None = None,
        persist: bool = True,
        autoload: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings or load_settings()
        self.persist = persist
        self.closed = False
        self.closed_cleanly = True
        self.setWindowTitle("LTU-AS Desktop")
        self.setAcceptDrops(True)
        self.setAccessibleName("LTU-AS Desktop")

        self.messages = MessageBar()
        self.clip_list = ClipList()
        self.waveform = WaveformView()
        self.transcript = TranscriptView()
        self.chat = ChatView()
        self.model_status = ModelStatus()
        self.record_bar = RecordBar(recordings_dir(), self.settings.input_device)
        self.player_bar = PlayerBar()
        self.controller = Controller(
            self.chat, self.transcript, self.waveform, self.clip_list, self.model_status, self.messages, loader
        )
        self.controller.generation = dict(self.settings.generation)
        self._build_layout()
        self._build_actions()
        self._wire()
        self._restore_layout()
        if autoload:
            self.load_model()

    # --- layout ----------------------------------------------------------------------------
    def _build_layout(self) -> None:
        clips = QWidget()
        clip_box = QVBoxLayout(clips)
        clip_box.setContentsMargins(0, 0, 0, 0)
        clip_title = QLabel("<b>Clips</b>")
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
        self.main_split.setSizes([180, 1100])
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
        self.export_clip_action = action("Export This Clip's Chat…", lambda: self.export(all_clips=False), "Ctrl+E")
        self.export_all_action = action("Export All Chats…", lambda: self.export(all_clips=True), "Ctrl+Shift+E")
        self.remove_action = action("Remove Clip", self._remove_current)
        quit_action = action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.model_action = action("&Choose Model…", self.choose_model, "Ctrl+M")
        self.cancel_load_action = action("Cancel Loading", self.controller.cancel_load)
        self.play_action = action("&Play / Pause", self.player_bar.toggle, "Ctrl+P")
        self.play_window_action = action("Play &Window", self._play_window, "Ctrl+Shift+P")
        self.stop_action = action("&Stop Answer", self.controller.stop, Qt.Key.Key_Escape)
        self.ask_focus_action = action("&Ask a Question", self.chat.focus_input, "Ctrl+L")

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        for a in (self.open_action, self.record_action, None, self.export_clip_action, self.export_all_action, None,
                  self.remove_action, None, quit_action):
            file_menu.addSeparator() if a is None else file_menu.addAction(a)
        model_menu = menu.addMenu("&Model")
        model_menu.addAction(self.model_action)
        model_menu.addAction(self.cancel_load_action)
        play_menu = menu.addMenu("&Playback")
        play_menu.addAction(self.play_action)
        play_menu.addAction(self.play_window_action)
        chat_menu = menu.addMenu("&Chat")
        chat_menu.addAction(self.ask_focus_action)
        chat_menu.addAction(self.stop_action)
        view_menu = menu.addMenu("&View")
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
        help_menu.addAction(action("&Keyboard Shortcuts", self._show_shortcuts))

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
        self.record_bar.recorded.connect(lambda path: c.add_files([path], recorded=True))
        self.record_bar.failed.connect(self.messages.show_message)
        self.player_bar.failed.connect(self.messages.show_message)
        self.player_bar.position.connect(self.waveform.set_playhead)
        self.player_bar.window_button.clicked.connect(self._play_window)
        self.waveform.seekRequested.connect(self.player_bar.play)
        self.transcript.seekRequested.connect(self.player_bar.play)
        self.model_status.chooseRequested.connect(self.choose_model)
        c.clipSelected.connect(self._clip_selected)
        c.modelLoaded.connect(lambda info: self.statusBar().showMessage(f"Model ready: {info.label}", 5000))
        self._clip_selected(None)

    def _clip_selected(self, clip) -> None:
        self.player_bar.set_clip(clip.audio.samples if clip else None, clip.duration if clip else 0.0)
        for a in (self.export_clip_action, self.remove_action, self.play_action, self.play_window_action):
            a.setEnabled(clip is not None)
        self.setWindowTitle(f"{clip.name} – LTU-AS Desktop" if clip else "LTU-AS Desktop")

    # --- commands --------------------------------------------------------------------------
    def add_files(self, paths: list[str]) -> None:
        self.controller.add_files(paths)

    def load_model(self, profile=None) -> None:
        """Load the remembered choice (or a given engine Profile) in the worker."""
        s = self.settings
        self.controller.load_model(s.model, s.device, s.precision, profile)

    def open_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open audio", self.settings.last_folder, AUDIO_FILTER)
        if paths:
            self.settings.last_folder = str(Path(paths[0]).parent)
            self.add_files(paths)

    def choose_model(self) -> None:
        dialog = ModelDialog(self.settings.model, self.settings.device, self.settings.precision, self)
        if dialog.exec():
            self.settings.model = dialog.choice()
            self.settings.device = dialog.device.currentText()
            self.settings.precision = dialog.precision.currentText()
            self._save()
            self.load_model()

    def export(self, all_clips: bool) -> Path | None:
        c = self.controller
        clips = list(c.clips.values()) if all_clips else [c.current] if c.current else []
        if not clips:
            self.messages.show_message("There is no chat to export yet.", "info")
            return None
        stem = "ltu-chats" if all_clips else Path(clips[0].name).stem + "-chat"
        start = str(Path(self.settings.last_folder or Path.home()) / f"{stem}.md")
        path, chosen = QFileDialog.getSaveFileName(self, "Export chat", start, "Markdown (*.md);;JSON (*.json)")
        if not path:
            return None
        if not Path(path).suffix:
            path += ".json" if "json" in chosen.lower() else ".md"
        try:
            written = write_export(path, clips)
        except OSError as exc:
            self.messages.show_message(f"Could not export: {exc}")
            return None
        self.statusBar().showMessage(f"Exported to {written}", 5000)
        return written

    def set_theme(self, name: str) -> None:
        self.settings.theme = name
        apply_theme(QApplication.instance(), name)
        self._save()

    def _play_window(self) -> None:
        clip = self.controller.current
        if clip is not None:
            self.player_bar.play(*clip.window())

    def _remove_current(self) -> None:
        if self.controller.current is not None:
            self.controller.remove(self.controller.current.id)

    def _show_shortcuts(self) -> None:
        QMessageBox.information(
            self,
            "Keyboard shortcuts",
            "Ctrl+O  open audio files\nCtrl+R  start / stop recording\nCtrl+P  play / pause\n"
            "Ctrl+Shift+P  play the model's window\nCtrl+L  type a question\nEnter  send, Shift+Enter  new line\n"
            "Esc  stop the answer\nCtrl+M  choose the model\nCtrl+E  export this clip's chat\n"
            "Left / Right on the waveform  move the window (Shift: 5 s)\nDelete in the clip list  remove the clip",
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
            if self.record_bar.recorder.recording:
                self.record_bar.stop()
            self.player_bar.stop()
            self._remember_layout()
            self._save()
            self.closed_cleanly = self.controller.close()
            self.closed = True
        super().closeEvent(event)
