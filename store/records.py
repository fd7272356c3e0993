"""Plain records that cross the store boundary (no ORM objects leak out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from messaging import CallbackEvent, ResendPolicy


@dataclass(frozen=True)
class NewMessage:
    """A validated message the API is about to commit."""

    id: str
    account_id: str
    to: str
    sender: str
    body: str
    message_class: str
    encoding: str
    segments: int
    callback_url: str | None
    created_at: datetime
    valid_until: datetime
    callback_events: str = "all"  # messaging.CallbackScope
    callback_batch: bool = False


@dataclass(frozen=True)
class KeyOwner:
    """Who an API key belongs to."""

    account_id: str
    account_name: str
    is_admin: bool


@dataclass(frozen=True)
class ClaimedMessage:
    """A message a worker has taken for sending (status now `sending`)."""

    id: str
    account_id: str
    to: str
    sender: str
    body: str
    message_class: str
    segments: int
    attempt_count: int
    valid_until: datetime
    tried_carriers: tuple[str, ...] = ()
    recovered: bool = False  # taken back from a dead worker's batch: this is a re-send


@dataclass(frozen=True)
class SendLease:
    """A claimed batch's hold on its rows: `owner` is unique per batch, renewed to `until`."""

    owner: str
    until: datetime


@dataclass(frozen=True)
class AttemptResult:
    """What one try on one carrier gave."""

    carrier: str
    route: str
    cost: Decimal
    currency: str
    accepted: bool
    error_code: str | None = None
    carrier_message_ids: tuple[str, ...] = ()
    resubmitted_after_crash: bool = False


@dataclass(frozen=True)
class SendOutcome:
    """The end of a send task for one message: its attempts and where it goes next."""

    message_id: str
    attempts: tuple[AttemptResult, ...]
    status: str  # sent | failed | queued (retry later) | rejected
    error_code: str | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class ReceiptRecord:
    """A carrier's receipt, ready to match: ids are already normalised variants."""

    carrier: str
    carrier_message_ids: tuple[str, ...]
    state: str
    error_code: str = ""
    received_at: datetime | None = None  # when our bind got it (a parked one expires by this)
    raw_stat: str = ""  # the carrier's `stat:` word when it is none we know (state undelivered)


@dataclass(frozen=True)
class StatusChange:
    """A message that reached a new status (callbacks fire from these).

    `callback` is the callback event the same transaction wrote for it, as written (set by
    `store.callback_outbox.add_events`; None when the message wants no event for this change):
    the writer's process may deliver it at once, without reading it back.
    """

    message_id: str
    status: str
    callback_url: str | None
    account_id: str = ""  # whose message: the status stream is per account
    callback: PendingCallback | None = None
    carrier: str | None = None  # of the attempt that made the change, when the writer knows it


# The resend decision is pure policy (messaging/retry.py); the store only asks it.
NO_RESEND = ResendPolicy(classes=frozenset())


@dataclass(frozen=True)
class ReceiptBatchResult:
    """Which receipts matched a part, which must be parked, which messages go out again."""

    matched: int
    duplicates: int
    unmatched: tuple[ReceiptRecord, ...]
    changes: tuple[StatusChange, ...] = field(default=())
    resend: tuple[str, ...] = field(default=())
    parked: int = 0  # unmatched receipts kept in `parked_receipts` by this call
    # Unmatched receipts received after `park_received_before`: neither parked nor taken (the
    # caller keeps them unacknowledged and applies them again soon).
    waiting: tuple[ReceiptRecord, ...] = field(default=())
    # (carrier, "each" | "one") per multipart attempt that showed how its carrier reports
    # concatenated messages: two or more segments with a receipt ("each"), or one receipt for
    # its first or last segment and no other within the grace ("one"; the sweep's).
    segment_evidence: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class ParkedRetry:
    """One pass over parked receipts: what matched now, what is still waiting, what gave up."""

    result: ReceiptBatchResult
    remaining: int
    dropped: int


@dataclass(frozen=True)
class AttemptView:
    """An attempt as the API shows it."""

    number: int
    carrier: str
    route: str
    cost: Decimal
    currency: str
    submit_status: str
    error_code: str | None
    receipt_state: str | None
    submitted_at: datetime
    receipt_at: datetime | None
    carrier_message_ids: tuple[str, ...]
    resubmitted_after_crash: bool = False
    receipt_stat: str | None = None  # the carrier's own `stat:` word, when none we know


@dataclass(frozen=True)
class MessageSummary:
    """A message as the list endpoint shows it (no attempts: one row per message)."""

    id: str
    to: str
    sender: str
    message_class: str
    encoding: str
    segments: int
    status: str
    error_code: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    final_at: datetime | None


@dataclass(frozen=True)
class MessageView(MessageSummary):
    """A message as the API shows it: its summary and its attempts."""

    attempts: tuple[AttemptView, ...]


@dataclass(frozen=True)
class PendingCallback:
    """A callback event a task has claimed for delivery."""

    event_id: int
    url: str
    batch: bool  # the message asked for `{"events": [...]}` POSTs
    attempts: int  # deliveries begun, this one included
    created_at: datetime
    event: CallbackEvent
    account_id: str = ""  # whose signing secret signs it ("" : the deployment's)
    body: bytes | None = None  # POSTed as is (an MO for inbound_url); None: rendered from event
