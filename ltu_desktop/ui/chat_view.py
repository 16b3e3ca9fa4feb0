"""The chat pane: one thread of questions and streamed answers per clip, and the question box."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..engine.grounding import ungrounded
from ..store.export import compared_groups
from .flow_layout import FlowLayout
from .session import Exchange
from .waveform_view import clock

SUGGESTIONS = (
    "What can be inferred from the audio? Why?",
    "What is the emotion of the speaker? Why?",
    "Describe the sounds you hear.",
    "What is the speaker saying?",
)
# For a model that only reads the transcript (the demo), questions about sounds it cannot hear would mislead.
TRANSCRIPT_SUGGESTIONS = (
    "What is the speaker saying?",
    "Summarize what is said in one sentence.",
    "What facts are mentioned?",
    "Who is speaking?",
)
# For a model that hears sounds but reads no words (LTU): questions about what is heard, not what is said.
SOUND_SUGGESTIONS = (
    "What sounds do you hear?",
    "Where might this have been recorded?",
    "What is the mood of the music?",
    "What is making this sound? Why?",
)
# Before a model is loaded nothing is known about what it hears: questions any model can take.
NEUTRAL_SUGGESTIONS = (
    "What is the speaker saying?",
    "Summarize the clip in one sentence.",
    "What can be inferred from the audio? Why?",
    "Who is speaking?",
)

QUESTION_WIDTH = 420  # px: short questions sit on one line, long ones wrap at this width

STATE_TEXT = {
    "queued": "Queued: the model is busy with an earlier request…",
    "waiting": "Waiting for a model to be loaded…",
    "thinking": "Listening and thinking…",
    "streaming": "",
}
READING = "Reading the transcript and thinking…"  # "thinking" for a model that does not hear
COPIED_MS = 1500


class QuestionEdit(QPlainTextEdit):
    """Enter sends, Shift+Enter starts a new line; dropped audio files go to the window, not into the text."""

    submitted = Signal()

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.ignore()
        else:
            super().dragEnterEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class CorrectionEdit(QPlainTextEdit):
    """The answer's text to correct in place: Ctrl+Enter keeps it, Esc gives up (not the window's Stop)."""

    saved = Signal()
    cancelled = Signal()

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in (
                Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
        elif event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
                event.modifiers() & Qt.KeyboardModifier.ControlModifier):
            self.saved.emit()
        else:
            super().keyPressEvent(event)


def _label(text: str = "", name: str = "", selectable: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    if name:
        label.setObjectName(name)
    if selectable:
        flags = Qt.TextInteractionFlag
        label.setTextInteractionFlags(flags.TextSelectableByMouse | flags.TextSelectableByKeyboard)
    return label


class ExchangeWidget(QWidget):
    """A question bubble, a note on what the model was given, and the answer bubble with its stats."""

    def __init__(self, exchange: Exchange, view: ChatView) -> None:
        super().__init__()
        self.exchange_id = exchange.id
        self.question = _label(exchange.question, selectable=True)
        self.question.setAccessibleName("Question")
        one_line = self.question.fontMetrics().horizontalAdvance(exchange.question) + 4
        self.question.setMinimumWidth(min(one_line, QUESTION_WIDTH))
        q_bubble = QFrame()
        q_bubble.setObjectName("question")
        QVBoxLayout(q_bubble).addWidget(self.question)
        q_row = QHBoxLayout()
        q_row.addStretch(1)
        q_row.addWidget(q_bubble)

        self.note = _label(name="note")
        self.note.setWordWrap(False)
        self.note.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.answer = _label(selectable=True)
        self.answer.setAccessibleName("Answer")
        self.status = _label(name="muted")
        self._text = ""
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy")
        self.copy_button.setAccessibleName("Copy answer")
        self.copy_button.clicked.connect(self.copy)
        self.grounding = _label(name="note")
        self.grounding.setAccessibleName("Not in the transcript")
        self.grounding.hide()
        self.view = view
        self.regenerate_button = QToolButton()
        self.regenerate_button.setText("Regenerate")
        self.regenerate_button.setAccessibleName("Regenerate answer")
        self.regenerate_button.clicked.connect(lambda: view.regenerateRequested.emit(self.exchange_id))
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setAccessibleName("Cancel question")
        self.cancel_button.clicked.connect(lambda: view.cancelRequested.emit(self.exchange_id))
        self.train_button = QToolButton()
        self.train_button.setText("Use for Training…")
        self.train_button.setAccessibleName("Correct and use for training")
        self.train_button.clicked.connect(self.begin_correction)
        footer = QHBoxLayout()
        footer.setContentsMargins(0, 0, 0, 0)
        footer.addWidget(self.status, 1)
        self.footer_buttons = (self.cancel_button, self.copy_button, self.regenerate_button, self.train_button)
        for b in self.footer_buttons:
            b.setAutoRaise(True)
            footer.addWidget(b)
        self.editing = False
        self.training = self._training_row()
        self.correction = self._correction_box()
        self.a_bubble = a_bubble = QFrame()
        a_bubble.setObjectName("answer")
        for w in (a_bubble, self.answer):
            w.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            w.customContextMenuRequested.connect(lambda pos, w=w: self._menu(w.mapToGlobal(pos)))
        a_layout = QVBoxLayout(a_bubble)
        a_layout.addWidget(self.answer)
        a_layout.addWidget(self.correction)
        a_layout.addWidget(self.grounding)
        a_layout.addWidget(self.training)
        a_layout.addLayout(footer)
        a_row = QHBoxLayout()
        a_row.addWidget(a_bubble, 6)
        a_row.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 4)
        layout.addLayout(q_row)
        layout.addWidget(self.note)
        layout.addLayout(a_row)
        self.refresh(exchange)

    def _training_row(self) -> QWidget:
        """The mark of an answer used for training, and its Edit and Don't Use buttons."""
        row = QWidget()
        self.training_mark = _label(name="training")
        self.training_mark.setAccessibleName("Used for training")
        self.training_note = _label(name="note")
        self.training_note.setAccessibleName("About training with this model")
        self.edit_button = edit = QToolButton()
        edit.setText("Edit…")
        edit.setAccessibleName("Edit the correction")
        edit.clicked.connect(self.begin_correction)
        self.drop_button = drop = QToolButton()
        drop.setText("Don't Use")
        drop.setAccessibleName("Stop using for training")
        drop.setToolTip("Stop using this answer for fine-tuning (your correction is kept)")
        drop.clicked.connect(self.unmark)
        line = QHBoxLayout()
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.training_mark, 1)
        for b in (edit, drop):
            b.setAutoRaise(True)
            line.addWidget(b)
        box = QVBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(line)
        box.addWidget(self.training_note)
        row.hide()
        return row

    def _correction_box(self) -> QWidget:
        """The answer as an editable text, with the buttons that keep or drop the correction."""
        box = QWidget()
        self.editor = CorrectionEdit()
        self.editor.setAccessibleName("Corrected answer")
        self.editor.setTabChangesFocus(True)
        self.editor.saved.connect(self.save_correction)
        self.editor.cancelled.connect(self.end_correction)
        self.hint = hint = _label(name="note")
        self.keep_button = keep = QPushButton("Use for Training")
        keep.setObjectName("primary")
        keep.setAccessibleName("Use the corrected answer for training")
        keep.clicked.connect(self.save_correction)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.end_correction)
        buttons = QHBoxLayout()
        buttons.addWidget(hint, 1)
        buttons.addWidget(cancel)
        buttons.addWidget(keep)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.editor)
        layout.addLayout(buttons)
        box.hide()
        return box

    def begin_correction(self) -> None:
        """Edit the answer in place (the text shown: the earlier correction, else the model's answer)."""
        if self.exchange.pending or not self.exchange.answer:
            return
        name = self.view.untrainable
        self.hint.setText((f"{name} cannot be fine-tuned: this answer is kept for fine-tuning an LTU-AS or LTU model. "
                           "Correct it as it should be; " if name else
                           "Correct the answer as it should be; it becomes what the model learns. ")
                          + "the model's own answer is kept. Ctrl+Enter keeps it.")
        self.keep_button.setText("Keep for Training" if name else "Use for Training")
        self.editor.setPlainText(self.exchange.shown_answer)
        lines = max(2, min(10, self.exchange.shown_answer.count("\n") + len(self.exchange.shown_answer) // 70 + 1))
        self.editor.setFixedHeight(self.editor.fontMetrics().lineSpacing() * lines + 14)
        self.editing = True
        self.refresh(self.exchange)
        self.editor.setFocus()
        self.editor.selectAll()

    def save_correction(self) -> None:
        text = self.editor.toPlainText().strip()
        if not text:
            self.editor.setPlaceholderText("An empty answer teaches nothing: write the answer, or Cancel.")
            return
        self.end_correction()
        self.view.trainingMarked.emit(self.exchange_id, True, text)

    def end_correction(self) -> None:
        self.editing = False
        self.refresh(self.exchange)

    def unmark(self) -> None:
        self.view.trainingMarked.emit(self.exchange_id, False, None)

    def _menu(self, at) -> None:
        e = self.exchange
        menu = QMenu(self)
        selected = self.answer.selectedText()
        if selected or self._text:
            menu.addAction("Copy" if selected else "Copy Answer",
                           lambda: QGuiApplication.clipboard().setText(selected or self._text))
        if not e.pending and e.answer:
            menu.addAction("Edit Correction…" if e.for_training else "Correct and Use for Training…",
                           self.begin_correction)
            if e.for_training:
                menu.addAction("Stop Using for Training", self.unmark)
        if not menu.isEmpty():
            menu.exec(at)

    def _show_training(self, e: Exchange) -> None:
        """A marked answer says so, and whether it is the person's correction (the model's answer in the tip)."""
        self.a_bubble.setProperty("training", e.for_training)
        self.a_bubble.style().unpolish(self.a_bubble)
        self.a_bubble.style().polish(self.a_bubble)
        self.training.setVisible(e.for_training or e.correction is not None)
        corrected = e.correction is not None
        mark = "✓ Used for training" if e.for_training else "Not used for training"
        self.training_mark.setText(mark + (" · your correction" if corrected else " · as the model answered"))
        self.training_mark.setToolTip(f"The model answered:\n{e.answer}" if corrected else "")
        self.drop_button.setVisible(e.for_training)
        self.edit_button.show()
        name = self.view.untrainable if e.for_training and self.view.noted_mark == e.id else ""
        self.training_note.setText(f"Kept for later: {name} cannot be fine-tuned, so marked answers wait for "
                                   "Model > Fine-tune on My Clips with an LTU-AS or LTU model." if name else "")
        self.training_note.setVisible(bool(name))

    def remark(self) -> None:
        self.refresh(self.exchange)

    def refresh(self, e: Exchange) -> None:
        self.exchange = e
        notes = []
        if e.regenerated:
            notes.append("regenerated")
        if e.heard_audio and e.window:
            notes.append(f"window {clock(e.window[0])}–{clock(e.window[1])}")
        elif not e.heard_audio:
            notes.append("from the transcript only: this model does not hear the audio")
        if e.transcript_edited:
            notes.append("your edited transcript is the model's Input")
        self.note.setText(" · ".join(notes))
        waiting = READING if e.state == "thinking" and not e.heard_audio else STATE_TEXT.get(e.state, "")
        self._text = e.shown_answer
        self._show_marks(e)
        if self.grounding.isHidden() or not e.answer:  # isHidden: also before the widget is first shown
            self.answer.setTextFormat(Qt.TextFormat.PlainText)
            self.answer.setText(e.shown_answer or waiting)
        self._placeholder(not e.answer)
        self._show_training(e)
        self.status.setText(self._status(e))
        self.status.setVisible(bool(self.status.text()))
        done = not e.pending
        self.copy_button.setVisible(done and bool(e.answer))
        self.regenerate_button.setVisible(done)
        self.train_button.setVisible(done and bool(e.answer) and not e.for_training and e.correction is None)
        name = self.view.untrainable
        self.train_button.setToolTip(
            f"Correct this answer if it is wrong and keep it for fine-tuning. {name} cannot be fine-tuned: marked "
            "answers wait in the history for Model > Fine-tune on My Clips with an LTU-AS or LTU model." if name else
            "Correct this answer if it is wrong and use it to fine-tune the model (Model > Fine-tune on My Clips)")
        self.cancel_button.setVisible(e.state in ("queued", "waiting"))
        self.answer.setVisible(not self.editing)
        self.correction.setVisible(self.editing)
        if self.editing:  # the editor's own buttons act now
            for b in (*self.footer_buttons, self.edit_button, self.drop_button):
                b.hide()

    def show_text(self, text: str) -> None:
        """The cheap update used for every streamed piece."""
        if self.answer.property("placeholder"):
            self._placeholder(False)
        self._text = text
        self.answer.setText(text)

    def copy(self) -> None:
        """The answer's plain text (never the marks); the button says it worked."""
        QGuiApplication.clipboard().setText(self._text)
        self.copy_button.setText("Copied ✓")
        self.copy_button.setAccessibleName("Answer copied")
        QTimer.singleShot(COPIED_MS, self._copy_reset)

    def _copy_reset(self) -> None:
        self.copy_button.setText("Copy")
        self.copy_button.setAccessibleName("Copy answer")

    def _show_marks(self, e: Exchange) -> None:
        """Names and numbers of a finished answer that its transcript lacks, underlined and listed below it.
        Always for a model that reads only the transcript; for one that hears, when the person asks for it."""
        wanted = (not e.heard_audio or self.view.mark_hearing_answers) and e.correction is None
        marks = ungrounded(e.answer, e.transcript_used) if wanted and not e.pending and e.answer else []
        self.grounding.setVisible(bool(marks))
        if not marks:
            return
        import html

        parts, at = [], 0
        for m in marks:
            parts += [html.escape(e.answer[at:m.start]),
                      f'<span style="text-decoration: underline; color: #d83b3b">{html.escape(m.text)}</span>']
            at = m.end
        parts.append(html.escape(e.answer[at:]))
        self.answer.setTextFormat(Qt.TextFormat.RichText)
        self.answer.setText("".join(parts).replace("\n", "<br>"))
        listed = ", ".join(dict.fromkeys(m.text for m in marks))
        self.grounding.setText(f"⚠ not in the transcript: {listed}")
        self.grounding.setToolTip("These names or numbers do not occur in the transcript the model read: "
                                  "it may have made them up.")

    def _placeholder(self, on: bool) -> None:
        self.answer.setProperty("placeholder", on)
        self.answer.style().unpolish(self.answer)
        self.answer.style().polish(self.answer)

    @staticmethod
    def _status(e: Exchange) -> str:
        if e.state == "failed":
            return f"⚠ {e.error}" if e.error else "⚠ failed"
        if e.state == "interrupted":
            return f"⚠ interrupted: {e.error or 'the app ended before the answer finished.'}"
        if e.state == "elsewhere":
            return "… still being answered in another ltu-desktop window"
        parts = []
        if e.state == "stopped":
            parts.append("■ stopped")
        if e.state == "cancelled":
            return "cancelled"
        if e.stats:
            parts.append(f"{e.stats.get('first_token_s', 0):.2f} s to first token")
            parts.append(f"{e.stats.get('tokens_per_s', 0):.1f} tokens/s")
        if e.device:
            parts.append(f"{e.device} · {e.precision}")
        return " · ".join(parts)


HOW = {"shared base": "one base LLM shared: each model's adapter is switched on for its answer",
       "all loaded": "both models loaded side by side",
       "one at a time": "models take turns: both do not fit in memory, so each is loaded for its answer"}


class SideAnswer(ExchangeWidget):
    """One model's answer in a comparison: headed by its model, with its own timings; the question is shown once
    above the sides, and Regenerate below them asks both again."""

    def __init__(self, exchange: Exchange, view: ChatView, changed: Callable[[], None], first: bool) -> None:
        super().__init__(exchange, view)
        self.first = first  # only the first side cancels a comparison that waits (both sides go)
        self.note.setWordWrap(True)
        self.header = _label()
        font = self.header.font()
        font.setBold(True)
        self.header.setFont(font)
        self._changed = changed
        self.question.parentWidget().hide()
        layout = self.layout()
        layout.itemAt(2).layout().setStretch(1, 0)
        layout.insertWidget(0, self.header)
        layout.addStretch(1)
        # Both sides get the same width, however long either answer is.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._side(exchange)

    def refresh(self, e: Exchange) -> None:
        super().refresh(e)
        if hasattr(self, "header"):  # not in the base class's first refresh, before this one is built
            self._side(e)

    def _side(self, e: Exchange) -> None:
        self.regenerate_button.hide()
        self.cancel_button.setVisible(self.first and self.cancel_button.isVisibleTo(self))
        self.header.setText(e.model.split(":")[0].strip() or "model")
        self.header.setToolTip(e.model)
        self.setAccessibleName(f"Answer of {e.model}")
        if not e.answer and e.progress and e.pending:
            self.answer.setText(e.progress)
        self._changed()

    @staticmethod
    def _status(e: Exchange) -> str:
        text = ExchangeWidget._status(e)
        if e.stats and e.state in ("done", "stopped"):
            whole = float(e.stats.get("first_token_s", 0) or 0) + float(e.stats.get("decode_s", 0) or 0)
            text += f" · whole answer {whole:.2f} s, {e.stats.get('new_tokens', 0)} tokens"
        return text


class ComparisonWidget(QWidget):
    """One question asked of two models (Ask both): the question once, then the answers side by side, and how
    the two shared the memory."""

    def __init__(self, exchanges: list[Exchange], view: ChatView) -> None:
        super().__init__()
        question = _label(exchanges[0].question, selectable=True)
        question.setAccessibleName("Question")
        one_line = question.fontMetrics().horizontalAdvance(exchanges[0].question) + 4
        question.setMinimumWidth(min(one_line, QUESTION_WIDTH))
        bubble = QFrame()
        bubble.setObjectName("question")
        QVBoxLayout(bubble).addWidget(question)
        q_row = QHBoxLayout()
        q_row.addStretch(1)
        q_row.addWidget(bubble)
        self.how = _label(name="note")
        self.how.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.regenerate_button = QToolButton()
        self.regenerate_button.setText("Regenerate both")
        self.regenerate_button.setAccessibleName("Regenerate both answers")
        self.regenerate_button.setToolTip("Ask the loaded model and the same other model again, side by side")
        self.regenerate_button.setAutoRaise(True)
        self.regenerate_button.clicked.connect(lambda: view.regenerateRequested.emit(self.sides[0].exchange_id))
        self.sides: list[SideAnswer] = []
        row = QHBoxLayout()
        for i, e in enumerate(exchanges):
            side = SideAnswer(e, view, self._show_how, i == 0)
            row.addWidget(side, 1)
            self.sides.append(side)
        footer = QHBoxLayout()
        footer.addStretch(1)
        footer.addWidget(self.regenerate_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 4)
        layout.addLayout(q_row)
        layout.addWidget(self.how)
        layout.addLayout(row)
        layout.addLayout(footer)
        self._show_how()

    def _show_how(self) -> None:
        if not hasattr(self, "how"):
            return
        how = next((s.exchange.settings.get("compare") for s in self.sides if s.exchange.settings.get("compare")),
                   "")
        self.how.setText("Asked both" + (f" · {HOW[how]}" if how in HOW else ""))
        self.regenerate_button.setVisible(not any(s.exchange.pending for s in self.sides))


class ChatThread(QScrollArea):
    """The exchanges of one clip, newest at the bottom; follows the stream while scrolled down."""

    def __init__(self) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAccessibleName("Conversation")
        body = QWidget()
        body.setObjectName("thread")
        self.rows = QVBoxLayout(body)
        self.rows.setContentsMargins(8, 8, 8, 8)
        self.empty = _label("Ask something about this clip, or pick a suggestion below.", name="muted")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.rows.addWidget(self.empty)
        self.rows.addStretch(1)
        self.setWidget(body)
        self.widgets: dict[int, ExchangeWidget] = {}
        self.verticalScrollBar().rangeChanged.connect(self._follow)
        self._at_bottom = True
        self.verticalScrollBar().valueChanged.connect(self._remember)

    def add(self, widget: ExchangeWidget | ComparisonWidget) -> None:
        self.empty.hide()
        self.rows.insertWidget(self.rows.count() - 1, widget)
        for one in getattr(widget, "sides", [widget]):
            self.widgets[one.exchange_id] = one
        self._at_bottom = True

    def _remember(self, value: int) -> None:
        self._at_bottom = value >= self.verticalScrollBar().maximum() - 4

    def _follow(self, _lo: int, hi: int) -> None:
        if self._at_bottom:
            self.verticalScrollBar().setValue(hi)


class ChatView(QWidget):
    """Threads per clip in a stack, suggestion chips and the question box with Send and Stop."""

    askRequested = Signal(str)
    askBothRequested = Signal(str, int)  # question, index of the model chosen to compare with
    stopRequested = Signal()
    regenerateRequested = Signal(int)
    cancelRequested = Signal(int)
    trainingMarked = Signal(int, bool, object)  # exchange id, use for training, the corrected text (None: keep)
    addModelRequested = Signal()  # the person wants a second model to compare with

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.threads: dict[int, ChatThread] = {}
        self.stack = QStackedWidget()
        self.none = _label("No clip chosen. Open (Ctrl+O), drop or record (Ctrl+R) a sound to ask about it, or pick "
                           "a clip or conversation from the list.", name="muted")
        self.none.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack.addWidget(self.none)

        self.mark_hearing_answers = False  # grounding marks also for models that hear (View menu)
        self.untrainable = ""  # the loaded model's name when it cannot be fine-tuned (said where answers are marked)
        self.noted_mark: int | None = None  # the exchange whose mark says so (the first under such a model)
        self.kind = "none"
        self.suggestions = QWidget()
        chips = FlowLayout(self.suggestions)
        self.suggestion_buttons = []
        for _ in SUGGESTIONS:
            b = QPushButton()
            b.setObjectName("chip")
            b.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
            b.clicked.connect(lambda _=False, b=b: self.askRequested.emit(b.text()))
            chips.addWidget(b)
            self.suggestion_buttons.append(b)

        self.input = QuestionEdit()
        self.input.setAccessibleName("Question")
        self.input.setTabChangesFocus(True)
        self.input.setMaximumHeight(self.input.fontMetrics().lineSpacing() * 4 + 16)
        self.input.submitted.connect(self.send)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("primary")
        self.send_button.setAccessibleName("Send question")
        self.send_button.setToolTip("Send (Enter)")
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setAccessibleName("Stop answer")
        self.stop_button.setToolTip("Stop the answer (Esc)")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stopRequested)
        self.compare_models = QComboBox()
        self.compare_models.setAccessibleName("Model to compare with")
        self.compare_models.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.compare_models.currentIndexChanged.connect(lambda _i: self._update_compare())
        self.ask_both_button = QPushButton("Ask both")
        self.ask_both_button.setAccessibleName("Ask both models")
        self.ask_both_button.clicked.connect(self.send_both)
        self.add_model_button = QToolButton()
        self.add_model_button.setObjectName("link")
        self.add_model_button.setText("Add a second model to compare answers…")
        self.add_model_button.setAccessibleName("Add a second model to compare")
        self.add_model_button.setToolTip("Ask both needs a second model on this computer: get one or choose your own "
                                         "LTU or LTU-AS files in the model chooser")
        self.add_model_button.setAutoRaise(True)
        self.add_model_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.add_model_button.clicked.connect(self.addModelRequested)
        self.set_model_kind("none")
        side = QVBoxLayout()
        side.addWidget(self.send_button)
        side.addWidget(self.stop_button)
        composer = QHBoxLayout()
        composer.addWidget(self.input, 1)
        composer.addLayout(side)
        self.compare_row = QWidget()
        row = QHBoxLayout(self.compare_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(_label("Compare with", name="muted"))
        row.addWidget(self.compare_models)
        row.addWidget(self.ask_both_button)
        both = QHBoxLayout()
        both.addStretch(1)
        both.addWidget(self.compare_row)
        both.addWidget(self.add_model_button)
        self.reason = _label(name="note")
        self.reason.setAccessibleName("Why asking is off")
        self.reason.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.reason)
        layout.addWidget(self.suggestions)
        layout.addLayout(composer)
        layout.addLayout(both)
        self.set_compare_models(None)
        self.set_enabled(False)

    # --- composer --------------------------------------------------------------------------
    def send(self) -> None:
        text = self.input.toPlainText().strip()
        if text and self.send_button.isEnabled():
            self.input.clear()
            self.askRequested.emit(text)

    def set_enabled(self, enabled: bool, reason: str = "") -> None:
        """Asking needs a clip with its audio; it does not need a loaded model (questions queue).
        `reason` tells the person why it is off."""
        for w in [self.input, self.send_button, *self.suggestion_buttons]:
            w.setEnabled(enabled)
        self.reason.setText(reason)
        self.reason.setVisible(not enabled and bool(reason))
        self._update_compare()

    # --- Ask both ----------------------------------------------------------------------------
    def send_both(self) -> None:
        text = self.input.toPlainText().strip()
        if text and self.ask_both_button.isEnabled():
            self.input.clear()
            self.askBothRequested.emit(text, self.compare_models.currentIndex())

    def set_compare_models(self, labels: list[str] | None) -> None:
        """The models Ask both can set beside the loaded one. None (no model loaded yet) shows nothing; no
        labels (a single model) only the way to add a second one."""
        chosen = self.compare_models.currentText()
        self.compare_models.blockSignals(True)
        self.compare_models.clear()
        self.compare_models.addItems(labels or [])
        if labels and chosen in labels:
            self.compare_models.setCurrentIndex(labels.index(chosen))
        self.compare_models.blockSignals(False)
        self.compare_row.setVisible(bool(labels))
        self.add_model_button.setVisible(labels == [])
        self._update_compare()

    def _update_compare(self) -> None:
        on = self.compare_models.count() > 0 and self.send_button.isEnabled()
        self.ask_both_button.setEnabled(on)
        self.ask_both_button.setToolTip(
            f"Ask the loaded model and {self.compare_models.currentText()} the same question about the same clip: "
            "the answers appear side by side, each with its own timings." if on else
            "Open a clip with its audio to ask both models about it.")
        self.compare_models.setToolTip("The second model for Ask both (only models whose files are on this computer "
                                       "are listed)")

    def set_model_kind(self, kind: str) -> None:
        """Suggest questions the loaded model can answer: about sounds and speech ("heard"), only about what is
        said ("transcript"), only about sounds ("sounds": LTU), or neutral ones while no model is loaded ("none")."""
        self.kind = kind
        texts = {"heard": SUGGESTIONS, "transcript": TRANSCRIPT_SUGGESTIONS, "sounds": SOUND_SUGGESTIONS}.get(
            kind, NEUTRAL_SUGGESTIONS)
        for b, text in zip(self.suggestion_buttons, texts):
            b.setText(text)
            b.setAccessibleName(f"Ask: {text}")
        self.input.setPlaceholderText({"transcript": "Ask about what is said…", "sounds": "Ask about the sounds…"}
                                      .get(kind, "Ask about the sound…")
                                      + "  (Enter sends, Shift+Enter new line)")

    def set_mark_hearing_answers(self, on: bool) -> None:
        self.mark_hearing_answers = on
        self._refresh_all()

    def set_untrainable(self, name: str = "") -> None:
        """`name`: the loaded model, which cannot be fine-tuned. Marking stays possible (the marks wait in the
        history for fine-tuning a model that can be), and where answers are marked it says so."""
        self.untrainable = name
        self._refresh_all()

    def note_untrainable(self, exchange_id: int) -> None:
        """This mark, the first under a model that cannot be fine-tuned, carries a line saying so."""
        self.noted_mark = exchange_id
        self._refresh_all()

    def _refresh_all(self) -> None:
        for thread in self.threads.values():
            for widget in thread.widgets.values():
                widget.remark()

    def set_busy(self, busy: bool) -> None:
        self.stop_button.setEnabled(busy)

    # --- threads ---------------------------------------------------------------------------
    def show_clip(self, clip_id: int | None, problem: str = "") -> None:
        """The clip's thread; `problem` (why it cannot be asked about) turns the question box off."""
        if clip_id is None:
            self.stack.setCurrentWidget(self.none)
            self.set_enabled(False)
            return
        self.stack.setCurrentWidget(self._thread(clip_id))
        self.set_enabled(not problem, problem)

    def reset_clip(self, clip_id: int, exchanges: list[Exchange]) -> None:
        """Rebuild the clip's thread from these exchanges (another conversation was opened)."""
        shown = self.stack.currentWidget() is self.threads.get(clip_id)
        self.remove_clip(clip_id)
        thread = self._thread(clip_id)
        for group in compared_groups(exchanges):
            thread.add(ExchangeWidget(group[0], self) if len(group) == 1 else ComparisonWidget(group, self))
        if shown:
            self.stack.setCurrentWidget(thread)

    def remove_clip(self, clip_id: int) -> None:
        thread = self.threads.pop(clip_id, None)
        if thread is not None:
            self.stack.removeWidget(thread)
            thread.deleteLater()

    def add_exchange(self, clip_id: int, exchange: Exchange) -> ExchangeWidget:
        widget = ExchangeWidget(exchange, self)
        self._thread(clip_id).add(widget)
        return widget

    def add_comparison(self, clip_id: int, exchanges: list[Exchange]) -> ComparisonWidget:
        widget = ComparisonWidget(exchanges, self)
        self._thread(clip_id).add(widget)
        return widget

    def widget(self, exchange_id: int) -> ExchangeWidget | None:
        for thread in self.threads.values():
            if exchange_id in thread.widgets:
                return thread.widgets[exchange_id]
        return None

    def refresh(self, exchange: Exchange) -> None:
        widget = self.widget(exchange.id)
        if widget is not None:
            widget.refresh(exchange)

    def show_text(self, exchange: Exchange) -> None:
        widget = self.widget(exchange.id)
        if widget is not None:
            widget.show_text(exchange.answer)

    def _thread(self, clip_id: int) -> ChatThread:
        if clip_id not in self.threads:
            self.threads[clip_id] = ChatThread()
            self.stack.addWidget(self.threads[clip_id])
        return self.threads[clip_id]

    def focus_input(self) -> None:
        QTimer.singleShot(0, self.input.setFocus)
