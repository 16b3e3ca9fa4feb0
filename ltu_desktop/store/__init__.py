"""The saved history of clips and conversations (SQLite), its export, and the `history` command."""

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
