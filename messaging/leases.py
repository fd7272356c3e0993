"""Send leases: when a claimed batch's rows may be taken back from the worker that claimed them.

A send worker claims a batch with a lease (an owner token and `lease_until`) and renews it
every `renew_every` seconds while the batch is in flight. The sweeper takes `sending` rows back
to `queued` once their lease is dead: expired for more than `grace` (the workers' and the
sweeper's wall clocks may differ by that much). Rows claimed with no lease (by a worker older
than the lease columns) are not this policy's: the sweeper keeps the old rule for them (no
update for `stuck_sending_after`). Pure: the clock is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LeasePolicy:
    """How long a claimed batch's lease lasts, and when the sweeper calls it dead."""

    lease_seconds: float = 5.0
    grace_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.lease_seconds <= 0 or self.grace_seconds < 0:
            raise ValueError("lease_seconds must be > 0 and grace_seconds >= 0")

    @property
    def renew_every(self) -> float:
        """Seconds between renewals: three tries before the lease runs out."""
        return self.lease_seconds / 3

    def until(self, now: datetime) -> datetime:
        """`lease_until` of a lease taken or renewed at `now`."""
        return now + timedelta(seconds=self.lease_seconds)

    def is_dead(self, lease_until: datetime, now: datetime) -> bool:
        """True when the batch holding a `sending` row must be presumed dead: re-queue it."""
        return lease_until + timedelta(seconds=self.grace_seconds) < now

    def dead_before(self, now: datetime) -> datetime:
        """No lease ending at or after this instant is dead at `now` (the sweeper's pre-filter)."""
        return now - timedelta(seconds=self.grace_seconds)
