"""The transcript panel: what the model reads. Whisper's timed segments (click to play from there; those inside
the window the model hears are highlighted), or the person's edited text, with a way back to Whisper's.
Segments appear as they are recognized; while recording, the panel shows the take's live transcript."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from .waveform_view import clock


class TranscriptView(QWidget):
    """Shows one clip's transcript.

    `seekRequested(t)` when a segment is clicked; `edited(text | None)` when the person saves
    an edit (None when they revert to Whisper's text).
    """

    seekRequested = Signal(float)
    edited = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._asr_text = ""
        self._backend = ""
        self.title = QLabel("<b>Transcript</b>")
        self.state = QLabel()
        self.state.setObjectName("muted")
        # A long state line is cut, not allowed to widen the panel (and jump the splitter) while recording.
        self.state.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumHeight(6)
        self.progress.setTextVisible(False)
        self.progress.setAccessibleName("Transcription progress")
        self.progress.hide()

        self.segments = QListWidget()
        self.segments.setAccessibleName("Transcript segments")
        self.segments.setWordWrap(True)
        self.segments.setAlternatingRowColors(True)
        self.segments.setToolTip("Click a segment to play from there")
        self.segments.itemActivated.connect(self._seek)
        self.segments.itemClicked.connect(self._seek)

        self.editor = QPlainTextEdit()
        self.editor.setAccessibleName("Transcript text")
        self.editor.setPlaceholderText("Type what is said in the clip; the model gets this text as its Input.")

        self.stack = QStackedWidget()
        self.stack.addWidget(self.segments)
        self.stack.addWidget(self.editor)

        self.banner = QLabel("Edited: the model reads your text below, not Whisper's. Revert goes back to Whisper's.")
        self.banner.setObjectName("note")
        self.banner.setWordWrap(True)
        self.banner.hide()
        self.unread = QLabel()
        self.unread.setObjectName("note")
        self.unread.setWordWrap(True)
        self.unread.setAccessibleName("Transcript not read by the model")
        self.unread.hide()

        self.edit_button = QPushButton("Edit")
        self.edit_button.setAccessibleName("Edit transcript")
        self.edit_button.setToolTip("Edit the text the model gets as its Input")
        self.edit_button.clicked.connect(self.begin_edit)
        self.save_button = QPushButton("Use this text")
        self.save_button.setAccessibleName("Use edited transcript")
        self.save_button.clicked.connect(self.finish_edit)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel editing")
        self.cancel_button.clicked.connect(self._cancel_edit)
        self._window: tuple[float, float] | None = None
        self.revert_button = QPushButton("Revert to Whisper's")
        self.revert_button.setAccessibleName("Revert to Whisper transcript")
        self.revert_button.setToolTip("Go back to Whisper's transcript")
        self.revert_button.clicked.connect(self.revert)

        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addWidget(self.state, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.revert_button, self.cancel_button, self.save_button, self.edit_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.progress)
        layout.addWidget(self.unread)
        layout.addWidget(self.banner)
        layout.addWidget(self.stack, 1)
        layout.addLayout(buttons)
        self.show_clip(None)

    # --- what the main window calls ---------------------------------------------------------
    def show_clip(self, clip) -> None:
        """Render a ClipEntry (or nothing) from scratch."""
        self.segments.clear()
        self.title.setText("<b>Transcript</b>")
        self.stack.setCurrentWidget(self.segments)
        self._asr_text = clip.asr_text() if clip else ""
        edited = clip.transcript_override() if clip else None
        self.editor.setPlainText(edited if edited is not None else self._asr_text)
        self.banner.setVisible(edited is not None)
        state = clip.transcript_state if clip else "none"
        if clip is not None and clip.audio is None:
            state = "missing" if clip.missing else "loading"
        self.progress.setVisible(state in ("pending", "waiting", "running", "loading"))
        self.state.setText(
            {
                "none": "",
                "missing": "audio unavailable",
                "loading": "loading the audio…",
                "pending": "queued…",
                "waiting": "waiting for a model…",
                "running": "transcribing…",
                "failed": f"failed: {clip.transcript_error}" if clip else "",
                "done": "",
            }.get(state, "")
        )
        transcript = clip.transcript if clip else None
        if edited is not None:
            item = QListWidgetItem(edited)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            item.setToolTip("Your edited text: the model reads this instead of Whisper's transcript")
            self.segments.addItem(item)
        elif transcript is not None:
            for seg in transcript.segments:
                self.segments.addItem(self._item(seg))
            if not transcript.segments:
                silent = transcript.no_speech or not transcript.text
                item = QListWidgetItem("(no speech found)" if silent else transcript.text)
                item.setFlags(Qt.ItemFlag.NoItemFlags)
                self.segments.addItem(item)
            made = [f"language: {transcript.language}"] if getattr(transcript, "language", None) else []
            self.state.setText(" · ".join(made + ([f"by {self._backend}"] if self._backend else [])))
        elif clip is not None and clip.partial and state in ("running", "pending"):
            for seg in clip.partial:
                self.segments.addItem(self._item(seg))
            self._progress(clip.partial[-1].end, clip.duration)
        elif clip is not None and clip.saved_text:
            item = QListWidgetItem(clip.saved_text)
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            item.setToolTip("The transcript the conversation's last question used")
            self.segments.addItem(item)
        self._buttons(editing=False, has_clip=clip is not None, edited=edited is not None)
        self._mark_window()

    def set_backend(self, backend: str) -> None:
        """Which Whisper backend makes the loaded model's transcripts (they can word speech differently)."""
        self._backend = backend
        self.state.setToolTip(f"Transcripts are made by {backend}; the model dialog's Transcripts row chooses it"
                              if backend else "")

    def set_unread_note(self, text: str) -> None:
        """Say that the loaded model does not read this transcript (LTU hears the sound only); "" hides it."""
        self.unread.setText(text)
        self.unread.setVisible(bool(text))

    def add_segment(self, segment, duration: float) -> None:
        """One more segment of the clip being transcribed; its final transcript replaces them (show_clip)."""
        self.segments.addItem(self._item(segment))
        self._progress(segment.end, duration)
        self._mark_window()

    def show_live(self, segments, settled: int, heard: float, recording: bool = True) -> None:
        """A take's transcript while it is being recorded: the settled segments, then the rest in italics (more
        audio may still change them)."""
        self.segments.clear()
        self.stack.setCurrentWidget(self.segments)
        self.banner.hide()
        self.title.setText("<b>Transcript</b> · <span style='color:#e5484d'>● live</span>")
        self.progress.setVisible(True)
        if not recording:
            self.state.setText("finishing the transcript…")
        elif segments:
            self.state.setText(f"recording · transcribed up to {clock(heard)}")
        else:
            self.state.setText("recording · words appear in a few seconds")
        for i, seg in enumerate(segments):
            item = self._item(seg)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            if i >= settled:
                font = QFont(item.font())
                font.setItalic(True)
                item.setFont(font)
                item.setForeground(self.palette().color(QPalette.ColorRole.PlaceholderText))
                item.setToolTip("Live: may still change as the recording goes on")
            self.segments.addItem(item)
        self.segments.scrollToBottom()
        self._buttons(editing=False, has_clip=False, edited=False)

    def _progress(self, done: float, total: float) -> None:
        self.state.setText(f"transcribing… ({min(done, total):.0f} s of {total:.0f} s)")

    @staticmethod
    def _item(seg) -> QListWidgetItem:
        item = QListWidgetItem(f"{clock(seg.start)}  {seg.text.strip()}")
        item.setData(Qt.ItemDataRole.UserRole, float(seg.start))
        item.setData(Qt.ItemDataRole.UserRole + 2, (float(seg.start), float(seg.end)))
        item.setToolTip(f"{clock(seg.start)}–{clock(seg.end)}: click to play from here")
        return item

    def set_window(self, window: tuple[float, float] | None) -> None:
        """Highlight the segments inside the window the model hears (None: no window, nothing highlighted)."""
        self._window = window
        self._mark_window()

    def highlighted(self) -> list[int]:
        return [i for i in range(self.segments.count()) if self.segments.item(i).data(Qt.ItemDataRole.UserRole + 1)]

    def _mark_window(self) -> None:
        color = QColor(self.palette().color(QPalette.ColorRole.Highlight))
        color.setAlpha(50)
        for i in range(self.segments.count()):
            item = self.segments.item(i)
            span = item.data(Qt.ItemDataRole.UserRole + 2)
            inside = bool(self._window and span and span[0] < self._window[1] and span[1] > self._window[0])
            item.setData(Qt.ItemDataRole.UserRole + 1, inside)
            item.setBackground(QBrush(color) if inside else QBrush())
            font = QFont(item.font())
            font.setBold(inside)
            item.setFont(font)

    def begin_edit(self) -> None:
        self.stack.setCurrentWidget(self.editor)
        self._buttons(editing=True, has_clip=True, edited=self.banner.isVisible())
        self.editor.setFocus()

    def finish_edit(self) -> None:
        """The owner re-shows the clip on `edited`, so the list then shows the text the model reads."""
        text = self.editor.toPlainText()
        same = text.strip() == self._asr_text.strip()
        self.stack.setCurrentWidget(self.segments)
        self.banner.setVisible(not same)
        self._buttons(editing=False, has_clip=True, edited=not same)
        self.edited.emit(None if same else text)

    def revert(self) -> None:
        self.editor.setPlainText(self._asr_text)
        self.finish_edit()

    def _cancel_edit(self) -> None:
        self.stack.setCurrentWidget(self.segments)
        self._buttons(editing=False, has_clip=True, edited=self.banner.isVisible())

    def _buttons(self, editing: bool, has_clip: bool, edited: bool) -> None:
        self.edit_button.setVisible(not editing)
        self.edit_button.setEnabled(has_clip)
        self.save_button.setVisible(editing)
        self.cancel_button.setVisible(editing)
        self.revert_button.setVisible(edited)

    def _seek(self, item: QListWidgetItem) -> None:
        start = item.data(Qt.ItemDataRole.UserRole)
        if start is not None:
            self.seekRequested.emit(float(start))
