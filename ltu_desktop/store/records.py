"""What the history hands out: plain frozen records, so the GUI, the CLI and the exports never see SQLite rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Status = Literal["complete", "stopped", "failed", "interrupted", "streaming"]
STATUSES: tuple[str, ...] = ("complete", "stopped", "failed", "interrupted", "streaming")
FINAL_STATUSES = STATUSES[:4]


@dataclass(frozen=True)
class ClipRecord:
    id: int
    path: str
    content_hash: str
    duration: float
    added_at: float
    recording_path: str | None = None
    conversation_count: int = 0
    file_exists: bool = True

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def is_recording(self) -> bool:
        return self.recording_path is not None


@dataclass(frozen=True)
class MessageRecord:
    id: int
    conversation_id: int
    question: str
    answer: str
    status: str
    error: str | None
    transcript_used: str | None
    window_start: float | None
    window_end: float | None
    profile: str | None
    device: str | None
    precision: str | None
    settings: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    first_token_s: float | None = None
    tokens_per_s: float | None = None
    token_count: int | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    compare_group: str | None = None  # shared by the answers of several models to one question
    correction: str | None = None  # the person's corrected answer (training marks); `answer` stays the model's
    for_training: bool = False

    @property
    def window(self) -> tuple[float, float] | None:
        return None if self.window_start is None else (self.window_start, self.window_end or self.window_start)


@dataclass(frozen=True)
class Conversation:
    id: int
    clip_id: int
    title: str
    created_at: float
    clip: ClipRecord
    messages: list[MessageRecord] = field(default_factory=list)


@dataclass(frozen=True)
class ConversationSummary:
    """A conversation without its messages: enough to list many of them cheaply."""

    id: int
    clip_id: int
    title: str
    created_at: float
    message_count: int
    first_question: str
    updated_at: float


@dataclass(frozen=True)
class TranscriptEdit:
    id: int
    clip_id: int
    text: str
    created_at: float


@dataclass(frozen=True)
class TrainingMark:
    """The person's verdict on one answer: its correction (None: the answer as it is) and whether to train on it.
    Unmarking keeps the correction, so ticking it again does not lose the person's words."""

    message_id: int
    correction: str | None
    use: bool
    updated_at: float


@dataclass(frozen=True)
class TrainingItem:
    """A marked answer as a fine-tuning item: the clip's file, the question, what the model read, the target."""

    message_id: int
    conversation_id: int
    audio_path: str
    file_exists: bool
    question: str
    transcript_used: str | None
    answer: str
    correction: str | None
    window: tuple[float, float] | None

    @property
    def output(self) -> str:
        return self.correction if self.correction is not None else self.answer
