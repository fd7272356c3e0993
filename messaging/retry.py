"""Retry and resend policy (pure): what becomes of a message once every candidate carrier
failed, and whether a delivered-badly one goes out again.

`next_action(attempt, error, now, valid_until)` decides; the sender only records what it says
(dramatiq's backoff is a pure function the same way). `ResendPolicy.allows` decides resends;
the store asks it while it settles receipts. The clock is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# A routes reload removed the carrier the message was routed to: route it again at once on
# the table in force (it may have another carrier now), not after a backoff.
REROUTE_NOW = frozenset({"carrier_removed"})
NO_CAPACITY = "no_capacity"


class Action(StrEnum):
    """What to do with a message no candidate took."""

    RETRY = "retry"  # back to `queued`, due at `NextAction.at`
    FAIL = "fail"  # final `failed` with `NextAction.code`


@dataclass(frozen=True)
class NextAction:
    """The decision: retry at `at`, or fail; `code` says why."""

    action: Action
    code: str
    at: datetime | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff between send rounds: `first` seconds doubling, capped at `cap`."""

    first: float = 5.0
    cap: float = 600.0

    def __post_init__(self) -> None:
        if self.first <= 0 or self.cap < self.first:
            raise ValueError("first must be > 0 and cap >= first")

    def backoff(self, attempt: int) -> timedelta:
        """The wait after the `attempt`-th failed try (1 → `first`)."""
        return timedelta(seconds=min(self.first * 2 ** max(attempt - 1, 0), self.cap))


def next_action(
    attempt: int,
    error: str | None,
    now: datetime,
    valid_until: datetime,
    policy: RetryPolicy | None = None,
) -> NextAction:
    """After `attempt` tries, the last failing with `error` (None: no carrier had capacity):
    retry after the backoff while the message is still valid then, else fail."""
    code = error or NO_CAPACITY
    wait = timedelta(0) if code in REROUTE_NOW else (policy or RetryPolicy()).backoff(attempt)
    at = now + wait
    if at >= valid_until:
        return NextAction(Action.FAIL, code)
    return NextAction(Action.RETRY, code, at)


@dataclass(frozen=True)
class ResendPolicy:
    """Which messages get another carrier when a receipt says undelivered (or none comes)."""

    classes: frozenset[str] = frozenset({"otp"})
    max_attempts: int = 3
    min_validity_left: timedelta = timedelta(seconds=30)

    def allows(
        self, message_class: str, attempts: int, valid_until: datetime, now: datetime
    ) -> bool:
        """True when one more attempt is worth it: right class, tries left, time left."""
        return (
            message_class in self.classes
            and attempts < self.max_attempts
            and valid_until - now >= self.min_validity_left
        )
