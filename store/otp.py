"""OTP tables: verifications (the code only as its keyed hash) and pumping-guard prefix blocks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, UTCDateTime

PENDING = "pending"


class Verification(Base):
    """One OTP verification of one number; at most one pending per account and number."""

    __tablename__ = "otp_verifications"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    to: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(64))
    check_attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_checks: Mapped[int] = mapped_column(Integer)
    sends: Mapped[int] = mapped_column(Integer, default=1)
    max_sends: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str] = mapped_column(String(32))
    code_length: Mapped[int] = mapped_column(Integer)
    locale: Mapped[str] = mapped_column(String(16))
    template: Mapped[str | None] = mapped_column(Text, nullable=True)
    web_otp_domain: Mapped[str | None] = mapped_column(String(253), nullable=True)
    allow_unicode: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        # The database, not a read-then-insert, keeps "one pending verification per number":
        # two API processes racing a POST /v1/otp cannot both open one.
        Index(
            "uq_otp_pending_number",
            "account_id",
            "to",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_otp_prefix_created", "prefix", "created_at"),
    )


class PrefixBlock(Base):
    """A destination prefix the pumping guard blocked (kept after lifting, for the record)."""

    __tablename__ = "otp_prefix_blocks"
    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    blocked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
