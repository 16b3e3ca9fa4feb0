"""The clips and chats of one app session as plain data, so views, export and tests share one truth."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

WINDOW_S = 10.0  # the window drawn until a model says how much it hears (ModelInfo.window_seconds)

_ids = itertools.count(1)


def next_id() -> int:
    return next(_ids)


# An exchange's life: queued -> (waiting for a model) -> thinking -> streaming -> done | stopped | failed | cancelled.
# Restored from the history it may also be "interrupted" (the app ended mid-answer) or "elsewhere" (another
# ltu-desktop window is still answering it).
PENDING_STATES = ("queued", "waiting", "thinking", "streaming")


@dataclass
class Exchange:
    """One question and its answer, with what the model was given and how it ran."""

    question: str
    window: tuple[float, float] | None  # None: the model read the transcript and heard no window
    transcript_edited: bool
    id: int = field(default_factory=next_id)
    asked_at: float = field(default_factory=time.time)
    answer: str = ""
    state: str = "queued"
    error: str = ""
    answered_at: float | None = None
    transcript_used: str = ""
    model: str = ""
    device: str = ""
    precision: str = ""
    settings: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    regenerated: bool = False
    conversation_id: int | None = None  # in the history; None when it is not saved
    message_id: int | None = None
    correction: str | None = None  # the person's corrected answer; the model's stays in `answer`
    for_training: bool = False  # marked "use for training" (Model > Fine-tune on My Clips starts from these)
    compare_group: str = ""  # shared by the answers of one "Ask both": shown side by side, saved together
    progress: str = ""  # what a compared model is doing before it answers (loading for its turn)

    @property
    def shown_answer(self) -> str:
        return self.correction if self.correction is not None else self.answer

    @property
    def heard_audio(self) -> bool:
        """False when the model answered (or will answer) from the transcript alone."""
        return self.settings.get("mode") != "transcript"

    @property
    def pending(self) -> bool:
        return self.state in PENDING_STATES


@dataclass
class ClipEntry:
    """A clip: its audio, the chosen window, its transcript and the chat of its open conversation.

    A clip from the history starts without audio (`audio` None): it is decoded when opened, or stays without
    when its file is gone (`missing` says why), so its conversations can be read but not continued.
    """

    name: str
    audio: object = None  # ltu_desktop.audio.io.Audio
    path: str = ""
    recorded: bool = False
    envelope: object = None  # numpy (2, bins) min/max for the waveform
    id: int = field(default_factory=next_id)
    window_start: float = 0.0
    transcript: object = None  # ltu_desktop.engine.types.Transcript once transcribed
    transcript_state: str = "pending"  # pending | waiting | running | done | failed
    transcript_error: str = ""
    partial: list = field(default_factory=list)  # engine Segments recognized so far, until `transcript` is there
    edited_text: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    content_hash: str = ""
    known_duration: float = 0.0  # from the history, until the audio is decoded
    store_id: int | None = None  # the clip's id in the history
    conversation_id: int | None = None  # the open conversation; None: the next question starts one
    opened: bool = False  # its saved conversation and transcript edit were restored
    loading: bool = False
    missing: str = ""  # why its audio cannot be used ("" when it can)
    saved_text: str = ""  # the transcript the open conversation's last question used (shown while no ASR)

    @property
    def duration(self) -> float:
        return self.audio.duration if self.audio is not None else self.known_duration

    def ask_problem(self) -> str:
        """Why no question can be asked about this clip now ("" when one can)."""
        if self.missing:
            return self.missing
        return "" if self.audio is not None else "Loading the audio…"

    def window(self, length: float = WINDOW_S) -> tuple[float, float]:
        """The part the model hears, `length` seconds (the whole clip when it is shorter)."""
        start = max(0.0, min(self.window_start, self.duration - length))
        return (round(start, 3), round(min(self.duration, start + length), 3))

    def asr_text(self) -> str:
        return getattr(self.transcript, "text", "") or ""

    def transcript_override(self) -> str | None:
        """The edited text when the person changed it, else None (the engine uses its ASR text)."""
        if self.edited_text is None or self.edited_text.strip() == self.asr_text().strip():
            return None
        return self.edited_text

    def find(self, exchange_id: int) -> Exchange | None:
        return next((e for e in self.exchanges if e.id == exchange_id), None)


def display_name(path: str) -> str:
    return Path(path).name or path
