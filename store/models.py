"""SQLAlchemy 2 models: accounts, API keys, messages, attempts and their parts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from messaging import Status


def naive_utc(value: datetime | None) -> datetime | None:
    """What a UTC column stores of an aware datetime; a naive one is refused."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone, so store naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store as naive UTC."""
        return naive_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Load as aware UTC."""
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Account(Base):
    """A customer of the gateway."""

    __tablename__ = "accounts"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiKey(Base):
    """An API key; only its SHA-256 is stored (keys are random 192-bit, no slow hash needed)."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


UNMASKED_OTP = "message_class = 'otp' AND NOT secret_masked"  # rows that may hold a clear code
# A message not final yet; the rows the queue reads through its status indexes (PostgreSQL,
# migration 0023).
OPEN_STATUSES = (Status.QUEUED.value, Status.SENDING.value, Status.SENT.value)
OPEN_ROWS = f"status IN ({', '.join(repr(s) for s in OPEN_STATUSES)})"


class Message(Base):
    """One SMS as the client sent it; its status is derived from its attempts."""

    __tablename__ = "messages"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # No foreign key on PostgreSQL (migration 0019: a check per inserted row, for accounts that
    # are never deleted); SQLite keeps the one of 0001.
    account_id: Mapped[str] = mapped_column(String(32))
    to: Mapped[str] = mapped_column(String(20))
    sender: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    message_class: Mapped[str] = mapped_column(String(16))
    encoding: Mapped[str] = mapped_column(String(8))
    segments: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    callback_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # OTP rows: the code in `body` was masked once it could no longer be used (OtpStore).
    secret_masked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Which status changes are POSTed to callback_url (messaging.CallbackScope), and whether
    # several go in one POST (`{"events": [...]}`).
    callback_events: Mapped[str] = mapped_column(String(8), default="all", server_default="all")
    callback_batch: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The batch that holds a `sending` row, and until when (renewed while it lives; migration
    # 0009). `recovered`: the sweeper took the row back from a dead batch; cleared by the next
    # outcome written.
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    recovered: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A campaign's message (migration 0013): which campaign, its audience line, and the
    # recipient's time zones (space-separated) that its quiet hours are read in.
    campaign_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    campaign_line: Mapped[int | None] = mapped_column(Integer, nullable=True)
    release_zone: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index(
            "ix_messages_campaign_status_zone",
            "campaign_id",
            "status",
            "release_zone",
            postgresql_where=text("campaign_id IS NOT NULL"),
            sqlite_where=text("campaign_id IS NOT NULL"),
        ),
        Index(
            "ix_messages_status_updated",
            "status",
            "updated_at",
            postgresql_where=text(OPEN_ROWS),
        ),
        Index(
            "ix_messages_status_class_created",
            "status",
            "message_class",
            "created_at",
            postgresql_where=text(OPEN_ROWS),
        ),
        Index("ix_messages_account_created", "account_id", "created_at", "id"),  # list pages
        Index(
            "ix_messages_otp_unmasked",
            "created_at",
            postgresql_where=text(UNMASKED_OTP),
            sqlite_where=text(UNMASKED_OTP),
        ),
    )


class Attempt(Base):
    """One try of a message on one carrier."""

    __tablename__ = "attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # No foreign key on PostgreSQL (migration 0022: a check and a parent row lock per inserted
    # row; only the batch holding the message's claim writes its attempts); SQLite keeps 0001's.
    message_id: Mapped[str] = mapped_column(String(32), index=True)
    number: Mapped[int] = mapped_column(Integer)
    carrier: Mapped[str] = mapped_column(String(64))
    route: Mapped[str] = mapped_column(String(64))
    cost: Mapped[Decimal] = mapped_column(Numeric(12, 6))
    currency: Mapped[str] = mapped_column(String(3))
    submit_status: Mapped[str] = mapped_column(String(16))  # accepted | error
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    receipt_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The carrier's `stat:` word when it was none we know (receipt_state is then undelivered).
    receipt_stat: Mapped[str | None] = mapped_column(String(32), nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    receipt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The first try after the sweeper took the message back from a dead worker: the carrier
    # may also have the submit that worker made (at-least-once), never charged twice.
    resubmitted_after_crash: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )

    __table_args__ = (UniqueConstraint("message_id", "number"),)


class Part(Base):
    """One segment of an accepted attempt: the carrier message id its receipt will name."""

    __tablename__ = "parts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # No foreign key on PostgreSQL (migration 0022): a part is written in its attempt's own
    # transaction, with the id that insert returned; SQLite keeps 0001's.
    attempt_id: Mapped[int] = mapped_column(Integer, index=True)
    # Implied by attempt_id → attempts.message_id; no foreign key of its own on PostgreSQL
    # (migration 0019), SQLite keeps the one of 0001.
    message_id: Mapped[str] = mapped_column(String(32))
    carrier: Mapped[str] = mapped_column(String(64))
    segment: Mapped[int] = mapped_column(Integer)
    carrier_message_id: Mapped[str] = mapped_column(String(80))
    receipt_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    receipt_error: Mapped[str | None] = mapped_column(String(16), nullable=True)
    receipt_stat: Mapped[str | None] = mapped_column(String(32), nullable=True)
    receipt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # Not unique: carriers recycle ids (a restarted SMSC counts from 1 again); the newest part wins.
    __table_args__ = (Index("ix_parts_carrier_msgid", "carrier", "carrier_message_id"),)


class ParkedReceipt(Base):
    """A receipt acknowledged before its attempt row existed; applied again until it matches."""

    __tablename__ = "parked_receipts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    carrier: Mapped[str] = mapped_column(String(64))
    carrier_message_ids: Mapped[str] = mapped_column(Text)  # the id's variants, space-separated
    state: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str] = mapped_column(String(16), default="", server_default="")
    raw_stat: Mapped[str] = mapped_column(String(32), default="", server_default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CallbackEventRow(Base):
    """A status callback still to deliver: written with the status change, deleted once POSTed.

    `next_attempt_at` is when the sweep may hand the row out again: a hand-off grace after it is
    written, a lease while a task delivers it, the backoff after a failed POST. `attempts`
    counts the deliveries begun; a task claims a row only at the count it was handed.
    """

    __tablename__ = "callback_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)
    batch: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    carrier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    segments: Mapped[int] = mapped_column(Integer)
    cost: Mapped[Decimal | None] = mapped_column(Numeric(12, 6), nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    to: Mapped[str] = mapped_column(String(20))
    message_created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # An event written with its body (an MO for the account's inbound_url, migration 0015):
    # POSTed as is. NULL: a status event, rendered from the columns above.
    body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)

    __table_args__ = (
        Index("ix_callback_events_message", "message_id"),
        Index("ix_callback_events_next_attempt", "next_attempt_at"),
    )


class IdempotencyKey(Base):
    """An `Idempotency-Key` of one account: the request it was first used for and its answer.

    In progress while `status_code` is NULL (`lock_token` names the request holding it); the
    answer is written in the transaction that commits the request's messages, so a key either
    has an answer and messages, or neither. Swept `IDEMPOTENCY_TTL` after `created_at`.
    """

    __tablename__ = "idempotency_keys"
    account_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    lock_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    location: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_idempotency_keys_created", "created_at"),)


class InboundMessage(Base):
    """A mobile-originated message (whole: concatenated parts are joined before this row)."""

    __tablename__ = "inbound_messages"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    carrier: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))  # the subscriber, E.164 when numeric
    destination: Mapped[str] = mapped_column(String(32))  # our number or short code
    text: Mapped[str] = mapped_column(Text)
    parts: Mapped[int] = mapped_column(Integer, default=1)
    keyword: Mapped[str | None] = mapped_column(
        String(16), nullable=True
    )  # opt_out | opt_in | help
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_inbound_account_received", "account_id", "received_at", "id"),)


class InboundReply(Base):
    """When a kind of automatic reply last went from one of our numbers to a subscriber."""

    __tablename__ = "inbound_replies"

    destination: Mapped[str] = mapped_column(String(32), primary_key=True)
    subscriber: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # help | stop | start | auto
    replied_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AccountSetting(Base):
    """An account's own inbound settings (migration 0017): its `inbound_url` and reply texts.
    NULL: not set, the routes file's value applies; an empty reply text turns that reply off."""

    __tablename__ = "account_settings"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    inbound_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    reply_help: Mapped[str | None] = mapped_column(Text, nullable=True)
    reply_stop: Mapped[str | None] = mapped_column(Text, nullable=True)
    reply_start: Mapped[str | None] = mapped_column(Text, nullable=True)
    reply_auto: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InboundPart(Base):
    """One part of a concatenated MO, kept until all its parts are here (any bind, any order)."""

    __tablename__ = "inbound_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    carrier: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))
    destination: Mapped[str] = mapped_column(String(32))
    reference: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint(
            "source", "destination", "reference", "total", "number", name="uq_inbound_part"
        ),
    )


class OptOut(Base):
    """A number that asked one account to stop its marketing messages."""

    __tablename__ = "opt_outs"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    origin: Mapped[str] = mapped_column(String(8))  # mo (a keyword) | api
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Campaign(Base):
    """A marketing campaign: a template, an audience (its `messages` rows), a schedule."""

    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(String(200))
    sender: Mapped[str] = mapped_column(String(20))
    template: Mapped[str] = mapped_column(Text)
    message_class: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    max_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    send_window: Mapped[str | None] = mapped_column(String(11), nullable=True)  # HH:MM-HH:MM
    validity_seconds: Mapped[int] = mapped_column(Integer)
    zones: Mapped[str] = mapped_column(Text, default="", server_default="")  # zone keys, "\n"
    recipients: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    duplicates: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    opted_out: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    released: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # left scheduled
    last_release_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        Index("ix_campaigns_account_created", "account_id", "created_at"),
        Index("ix_campaigns_state", "state"),
    )


class CampaignSkip(Base):
    """An audience row that was not scheduled: its CSV line, the number, why."""

    __tablename__ = "campaign_skips"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    line: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(24))
    detail: Mapped[str] = mapped_column(String(200))

    __table_args__ = (Index("ix_campaign_skips_campaign_line", "campaign_id", "line"),)


class SigningSecret(Base):
    """An account's callback signing secret; after a rotation the previous one stays valid
    until `previous_until` (both sign meanwhile). Kept in clear: signing needs it."""

    __tablename__ = "signing_secrets"
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))
    previous: Mapped[str | None] = mapped_column(String(64), nullable=True)
    previous_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    rotated_at: Mapped[datetime] = mapped_column(UTCDateTime())
