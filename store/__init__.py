"""Persistence: SQLAlchemy 2 models, the message repository, Alembic migrations."""

from store.engine import make_engine, share_niceness
from store.ids import new_id
from store.migrate import upgrade
from store.records import (
    AttemptResult,
    AttemptView,
    ClaimedMessage,
    KeyOwner,
    MessageView,
    NewMessage,
    ReceiptBatchResult,
    ReceiptRecord,
    ResendPolicy,
    SendLease,
    SendOutcome,
    StatusChange,
)
from store.repository import MessageStore, hash_key

__all__ = [
    "AttemptResult",
    "AttemptView",
    "ClaimedMessage",
    "KeyOwner",
    "MessageStore",
    "MessageView",
    "NewMessage",
    "ReceiptBatchResult",
    "ReceiptRecord",
    "ResendPolicy",
    "SendLease",
    "SendOutcome",
    "StatusChange",
    "hash_key",
    "make_engine",
    "new_id",
    "share_niceness",
    "upgrade",
]
