"""The GUI's door to the history store: records in and out as session objects, failures as messages.

Every call is safe: a store that could not be opened, or a write that fails (disk full, a database locked by
another program), becomes a message for the person and a no-op, so asking and answering never depend on it.
All calls run on the UI thread; each is one short SQLite transaction.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from ..store.export import Format, export
from ..store.database import HistoryError
from ..store.history import History
from ..store.records import ClipRecord, Conversation, ConversationSummary, MessageRecord, TrainingItem, TrainingMark
from .session import WINDOW_S, ClipEntry, Exchange

T = TypeVar("T")

CANCELLED = "Cancelled before it started."
CLOSED = "The app was closed before the answer finished."
# The session's end states -> the store's, and back.
STATUS = {"done": "complete", "stopped": "stopped", "failed": "failed", "cancelled": "stopped",
          "interrupted": "interrupted"}
STATE = {"complete": "done", "stopped": "stopped", "failed": "failed", "interrupted": "interrupted",
         "streaming": "elsewhere"}


class HistoryBridge:
    """Wraps an open History, or none (`problem` says why); `report(text)` receives each new failure once."""

    def __init__(self, history: History | None, problem: str = "") -> None:
        self.history, self.problem = history, problem
        self.notice = history.notice if history is not None else None
        self.report: Callable[[str], None] = lambda text: None
        self._reported: set[str] = set()

    @classmethod
    def open(cls, folder: str | os.PathLike | None = None) -> HistoryBridge:
        try:
            return cls(History(folder))
        except HistoryError as exc:
            return cls(None, str(exc))
        except OSError as exc:  # the data folder itself cannot be made
            return cls(None, f"Cannot use the history folder: {exc}.")

    @classmethod
    def off(cls) -> HistoryBridge:
        return cls(None)

    @property
    def enabled(self) -> bool:
        return self.history is not None

    def _do(self, default: T, action: Callable[[History], T]) -> T:
        if self.history is None:
            return default
        try:
            return action(self.history)
        except HistoryError as exc:
            self._tell(str(exc))
        except KeyError:
            self._tell("That conversation or clip is no longer in the history (deleted from another window?).")
        except OSError as exc:  # files the history owns: its recordings
            self._tell(f"The history could not use a file: {exc}")
        return default

    def _tell(self, text: str) -> None:
        """Once per distinct text: a locked database must not repeat its message for every saved piece."""
        if text not in self._reported:
            self._reported.add(text)
            self.report(text)

    # --- reading -----------------------------------------------------------------------------
    def clips(self) -> list[ClipRecord]:
        return self._do([], lambda h: h.list_clips())

    def summaries(self, store_clip_id: int | None = None) -> list[ConversationSummary]:
        return self._do([], lambda h: h.summaries(store_clip_id))

    def conversation(self, conversation_id: int) -> Conversation | None:
        return self._do(None, lambda h: h.conversation(conversation_id))

    def edited_transcript(self, store_clip_id: int) -> str | None:
        return self._do(None, lambda h: h.edited_transcript(store_clip_id))

    # --- writing -----------------------------------------------------------------------------
    def new_recording_path(self) -> Path | None:
        return self._do(None, lambda h: h.new_recording_path())

    def add_clip(self, path: str, content_hash: str, duration: float, recording: bool) -> ClipRecord | None:
        return self._do(None, lambda h: h.clip(h.add_clip(path, content_hash, duration, recording=recording)))

    def new_conversation(self, store_clip_id: int) -> int | None:
        return self._do(None, lambda h: h.new_conversation(store_clip_id))

    def ask(self, conversation_id: int, e: Exchange, profile: str | None, device: str | None,
            precision: str | None) -> int | None:
        transcript = e.transcript_used if e.transcript_used or e.transcript_edited else None
        return self._do(None, lambda h: h.ask(conversation_id, e.question, transcript, e.window, profile, device,
                                              precision, e.settings, compare_group=e.compare_group or None))

    def partial(self, message_id: int, text: str) -> None:
        self._do(None, lambda h: h.update_partial(message_id, text))

    def finish(self, e: Exchange) -> None:
        """The exchange's end as it is now; a cancelled question is kept as stopped, with why."""
        if e.message_id is None:
            return
        error = CANCELLED if e.state == "cancelled" else e.error or None
        self._do(None, lambda h: h.finish(
            e.message_id, e.answer, STATUS.get(e.state, "interrupted"), e.stats or None, error,
            transcript_used=e.transcript_used if e.state in ("done", "stopped") else e.transcript_used or None,
            profile=e.model or None, settings=e.settings or None))

    def mark_for_training(self, e: Exchange) -> bool:
        """The exchange's mark and correction, saved; False when it could not be (not saved, or no history)."""
        if e.message_id is None:
            return False
        return self._do(False, lambda h: h.mark_for_training(e.message_id, e.for_training, e.correction) or True)

    def training_marks(self, message_ids: Sequence[int] | None = None) -> dict[int, TrainingMark]:
        return self._do({}, lambda h: h.training_marks(message_ids))

    def training_items(self) -> list[TrainingItem]:
        return self._do([], lambda h: h.training_items())

    def transcripts(self, content_hash: str) -> dict[str, dict]:
        return self._do({}, lambda h: h.transcripts(content_hash))

    def save_transcript(self, content_hash: str, asr_model: str, data: dict) -> None:
        self._do(None, lambda h: h.save_transcript(content_hash, asr_model, data))

    def edit_transcript(self, store_clip_id: int, text: str) -> None:
        self._do(None, lambda h: h.edit_transcript(store_clip_id, text))

    def delete_conversation(self, conversation_id: int) -> bool:
        return self._do(False, lambda h: h.delete_conversation(conversation_id) or True)

    def delete_clip(self, store_clip_id: int) -> bool:
        return self._do(False, lambda h: h.delete_clip(store_clip_id) or True)

    def export(self, path: str | os.PathLike, fmt: Format | None, conversation_ids: Sequence[int] | None) -> int | None:
        """Messages written, or None when the history could not be read; OSError (the target) is the caller's."""
        return self._do(None, lambda h: export(h, path, fmt, conversation_ids))

    def close(self) -> None:
        if self.history is not None:
            self.history.close()
            self.history = None


def entry_for(record: ClipRecord) -> ClipEntry:
    """A clip of the history as the session's clip, still without its audio."""
    missing = "" if record.file_exists else (
        f"The audio file {record.path} is no longer there, so no new questions can be asked about it. "
        "Open the file from its new place to continue.")
    return ClipEntry(record.name, None, record.path, record.is_recording, content_hash=record.content_hash,
                     known_duration=record.duration, store_id=record.id, missing=missing)


def exchange_for(m: MessageRecord, duration: float, mark: TrainingMark | None = None) -> Exchange:
    state = "cancelled" if m.status == "stopped" and m.error == CANCELLED else STATE.get(m.status, "interrupted")
    transcript_only = m.settings.get("mode") == "transcript"
    window = None if transcript_only else m.window or (0.0, round(min(duration, WINDOW_S), 3))
    return Exchange(
        m.question, window, False, asked_at=m.created_at, answer=m.answer, state=state,
        error="" if state == "cancelled" else m.error or "", answered_at=m.updated_at,
        transcript_used=m.transcript_used or "", model=m.profile or "", device=m.device or "",
        precision=m.precision or "", settings=dict(m.settings), stats=dict(m.stats),
        conversation_id=m.conversation_id, message_id=m.id, correction=mark.correction if mark else None,
        for_training=bool(mark and mark.use), compare_group=m.compare_group or "")


def conversation_label(first_question: str, count: int, created_at: float) -> tuple[str, str]:
    """The conversation's row text and tooltip."""
    head = first_question.strip().splitlines()[0] if first_question.strip() else "(no questions yet)"
    head = head if len(head) <= 48 else head[:47] + "…"
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(created_at))
    return f"{head}  ({count})", f"{first_question.strip() or head}\nStarted {when} · {count} question(s)"
