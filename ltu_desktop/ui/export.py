"""Export of chats that are not in the history (it could not be opened): the history's own format, so a JSON
export is always a list `ltu-desktop batch --input` reads, whether it came from the history or not."""

from __future__ import annotations

from pathlib import Path

from ..store.export import write
from ..store.records import ClipRecord, Conversation, MessageRecord
from .history_bridge import STATUS
from .session import ClipEntry, Exchange


def _message(i: int, conversation_id: int, e: Exchange) -> MessageRecord:
    return MessageRecord(
        i, conversation_id, e.question, e.answer, STATUS.get(e.state, "interrupted"), e.error or None,
        e.transcript_used if e.state in ("done", "stopped") else e.transcript_used or None,
        e.window[0] if e.window else None, e.window[1] if e.window else None, e.model or None, e.device or None, e.precision or None,
        dict(e.settings), dict(e.stats), e.stats.get("first_token_s"), e.stats.get("tokens_per_s"),
        e.stats.get("new_tokens"), e.asked_at, e.answered_at or e.asked_at, e.compare_group or None, e.correction,
        e.for_training)


def session_conversations(clips: list[ClipEntry]) -> list[Conversation]:
    """One conversation per clip, numbered by the clip's session id."""
    out = []
    for clip in clips:
        record = ClipRecord(clip.id, clip.path or clip.name, clip.content_hash, clip.duration, 0.0,
                            clip.path if clip.recorded else None, 1, bool(clip.path) and Path(clip.path).is_file())
        started = clip.exchanges[0].asked_at if clip.exchanges else 0.0
        messages = [_message(i, clip.id, e) for i, e in enumerate(clip.exchanges, 1)]
        out.append(Conversation(clip.id, record.id, "", started, record, messages))
    return out


def write_export(path: str | Path, clips: list[ClipEntry]) -> Path:
    """The suffix picks the format: .json gives JSON, anything else Markdown."""
    write(session_conversations(clips), path)
    return Path(path)
