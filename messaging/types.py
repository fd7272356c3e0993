"""Shared domain types: traffic classes, message statuses, identifiers."""

from __future__ import annotations

from enum import StrEnum
from typing import NewType

E164 = NewType("E164", str)
MessageId = NewType("MessageId", str)


class MessageClass(StrEnum):
    """Traffic class; each has its own queue and worker pool (ARCHITECTURE.md, invariant 3)."""

    OTP = "otp"
    TRANSACTIONAL = "transactional"
    MARKETING = "marketing"


class Status(StrEnum):
    """queued → sending → sent → delivered/undelivered/expired; or failed, rejected, canceled.

    `scheduled`: a campaign's message waiting in the database for its release (start time,
    quiet hours, pacing); the release makes it `queued` (`workers.campaign_release`).
    """

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    EXPIRED = "expired"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        """True when no further transition can happen."""
        return self in FINAL_STATUSES


FINAL_STATUSES: frozenset[Status] = frozenset(
    {
        Status.DELIVERED,
        Status.UNDELIVERED,
        Status.EXPIRED,
        Status.FAILED,
        Status.REJECTED,
        Status.CANCELED,
    }
)


class Encoding(StrEnum):
    """Short-message alphabet; the value is what the API reports."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"


class ReceiptState(StrEnum):
    """Final state a carrier reports in a delivery receipt (SMPP 3.4 Appendix B `stat`)."""

    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    EXPIRED = "expired"
    REJECTED = "rejected"
    DELETED = "deleted"
    UNKNOWN = "unknown"
    ACCEPTED = "accepted"
    ENROUTE = "enroute"
