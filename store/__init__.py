"""Persistence: SQLAlchemy 2 models, the message repository, Alembic migrations."""

from messaging import ResendPolicy  # re-exported: its callers built it from store before
from store.account_settings import (
    REPLY_KINDS,
    AccountSettings,
    AccountSettingsStore,
)
from store.callback_outbox import CALLBACK_HANDOFF_GRACE, CallbackOutbox
from store.campaign_audience import AudienceLoad
from store.campaign_records import (
    AudienceMessage,
    AudienceSkip,
    AudienceTotals,
    CampaignProgress,
    CampaignRecord,
    LiveCampaign,
    NewCampaign,
    Released,
    ReportRow,
)
from store.campaigns import CampaignStore
from store.engine import make_engine, share_niceness
from store.idempotency import (
    IDEMPOTENCY_TTL,
    Claimed,
    IdempotencyKeyTaken,
    IdempotencyStore,
    IdempotentAnswer,
    InProgress,
    KeyCompletion,
    KeyReused,
    Replay,
)
from store.ids import new_id
from store.inbound import (
    InboundActions,
    InboundRecord,
    InboundView,
    InboundWriteResult,
)
from store.keys import KeyInfo, hash_key
from store.migrate import upgrade
from store.records import (
    AttemptResult,
    AttemptView,
    ClaimedMessage,
    KeyOwner,
    MessageSummary,
    MessageView,
    NewMessage,
    ParkedRetry,
    PendingCallback,
    ReceiptBatchResult,
    ReceiptRecord,
    SendLease,
    SendOutcome,
    StatusChange,
)
from store.repository import MessageStore
from store.signing import ROTATION_GRACE, SigningSecrets

__all__ = [
    "CALLBACK_HANDOFF_GRACE",
    "IDEMPOTENCY_TTL",
    "REPLY_KINDS",
    "ROTATION_GRACE",
    "AccountSettings",
    "AccountSettingsStore",
    "AttemptResult",
    "AttemptView",
    "AudienceLoad",
    "AudienceMessage",
    "AudienceSkip",
    "AudienceTotals",
    "CallbackOutbox",
    "CampaignProgress",
    "CampaignRecord",
    "CampaignStore",
    "Claimed",
    "ClaimedMessage",
    "IdempotencyKeyTaken",
    "IdempotencyStore",
    "IdempotentAnswer",
    "InProgress",
    "InboundActions",
    "InboundRecord",
    "InboundView",
    "InboundWriteResult",
    "KeyCompletion",
    "KeyInfo",
    "KeyOwner",
    "KeyReused",
    "LiveCampaign",
    "MessageStore",
    "MessageSummary",
    "MessageView",
    "NewCampaign",
    "NewMessage",
    "ParkedRetry",
    "PendingCallback",
    "ReceiptBatchResult",
    "ReceiptRecord",
    "Released",
    "Replay",
    "ReportRow",
    "ResendPolicy",
    "SendLease",
    "SendOutcome",
    "SigningSecrets",
    "StatusChange",
    "hash_key",
    "make_engine",
    "new_id",
    "share_niceness",
    "upgrade",
]
