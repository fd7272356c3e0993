"""Status callbacks as domain values and pure rules: the event, which events a client wants,
and when a failed delivery is tried again.

No I/O and no clock: `now` is always passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from messaging.types import FINAL_STATUSES, Status


class CallbackScope(StrEnum):
    """Which status changes a message's callbacks report (`callback_events`)."""

    ALL = "all"  # every status change (sent, then the final one)
    FINAL = "final"  # only delivered, undelivered, failed, expired, rejected, canceled


def wants_event(scope: CallbackScope, status: str) -> bool:
    """True when a message whose callbacks have `scope` gets an event for `status`."""
    return scope is CallbackScope.ALL or Status(status) in FINAL_STATUSES


@dataclass(frozen=True)
class CallbackEvent:
    """One status change as the client receives it: enough to need no GET."""

    id: str  # the message id
    status: str
    error_code: str | None
    carrier: str | None  # the carrier of the latest attempt (None: never submitted)
    segments: int
    cost: Decimal | None  # what the message cost over all its accepted attempts
    currency: str | None
    to: str
    created_at: datetime  # when the message was accepted
    sent_at: datetime | None
    final_at: datetime | None
    at: datetime  # when this status change happened


@dataclass(frozen=True)
class InboundEvent:
    """One MO as the owning account's `inbound_url` receives it (signed like status events)."""

    id: str  # the MO's id, as in GET /v1/inbound
    sender: str  # "from": the subscriber, E.164 when numeric
    recipient: str  # "to": our number or short code
    text: str
    carrier: str
    received_at: datetime
    account: str  # the owning account's name
    keyword: str | None  # "stop" | "start" | "help" when the text is one, else None

    def wire(self) -> dict[str, object]:
        """The JSON object POSTed (times RFC 3339 in UTC)."""
        return {
            "type": "inbound",
            "id": self.id,
            "from": self.sender,
            "to": self.recipient,
            "text": self.text,
            "carrier": self.carrier,
            "received_at": self.received_at.isoformat(),
            "account": self.account,
            "keyword": self.keyword,
        }


@dataclass(frozen=True)
class CallbackRetry:
    """Backoff of failed deliveries: `first`, doubling, at most `cap`, for `give_up_after`."""

    first: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(minutes=10)
    give_up_after: timedelta = timedelta(hours=24)


DEFAULT_CALLBACK_RETRY = CallbackRetry()


def next_callback_attempt(
    attempts: int,
    now: datetime,
    first_at: datetime,
    policy: CallbackRetry = DEFAULT_CALLBACK_RETRY,
) -> datetime | None:
    """When to try an event again after its `attempts`-th delivery failed at `now`.

    `first * 2**(attempts - 1)`, capped at `cap`; never later than `give_up_after` from the
    event's `first_at`, so the last try lands on that mark. None: give up (the mark passed).
    """
    deadline = first_at + policy.give_up_after
    if now >= deadline:
        return None
    exponent = max(attempts - 1, 0)
    # Past 2**20 * first the cap has long won; stop doubling before the float overflows.
    delay = policy.cap if exponent > 20 else min(policy.cap, policy.first * 2**exponent)
    return min(now + delay, deadline)
