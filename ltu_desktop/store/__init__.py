"""The saved history of clips and conversations (SQLite) and its exports; the `history` command is in cli/.

database.py keeps the file sound (crashes, damage, full disks, other processes), migrations.py builds its schema,
history.py is what is saved in it, records.py what comes back out, export.py writes it for people and for `batch`.
"""

from .database import HistoryError
from .history import History
from .records import (
    ClipRecord,
    Conversation,
    ConversationSummary,
    MessageRecord,
    TrainingItem,
    TrainingMark,
    TranscriptEdit,
)

__all__ = ["ClipRecord", "Conversation", "ConversationSummary", "History", "HistoryError", "MessageRecord",
           "TrainingItem", "TrainingMark", "TranscriptEdit"]
