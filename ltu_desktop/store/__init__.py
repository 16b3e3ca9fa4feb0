"""The saved history of clips and conversations (SQLite) and its exports; the `history` command is in cli/."""

from .history import (
    ClipRecord,
    Conversation,
    ConversationSummary,
    History,
    HistoryError,
    MessageRecord,
    TranscriptEdit,
)

__all__ = ["ClipRecord", "Conversation", "ConversationSummary", "History", "HistoryError", "MessageRecord",
           "TranscriptEdit"]
