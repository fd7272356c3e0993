"""How many campaign messages one release slice may queue, and how they are shared (pure).

The release keeps the marketing queue short: a slice tops the backlog of queued marketing
messages up to what the carriers can send in `lookahead` seconds, never more. That is their
whole MPS: the share a carrier reserves for OTP is lent to marketing while no OTP waits (the
token buckets enforce the reserve, not the release), so counting it out would leave a
campaign a fifth below what the carriers allow. So other accounts' marketing waits at most that
long behind a campaign, a pause takes effect within one slice, and a cancel finds little to
take back. The slice is shared max-min fairly between running campaigns: each gets an equal
share, capped by its own max rate and what it has left; what a capped one leaves is shared
again among the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CarrierCapacity:
    """One carrier's throughput as the routes file gives it."""

    mps: int

    @property
    def marketing_mps(self) -> float:
        """Messages per second marketing may use at best (one segment a message; the OTP
        reserve is lent while no OTP waits)."""
        return float(self.mps)


def slice_budget(capacities: Mapping[str, CarrierCapacity], backlog: int, lookahead: float) -> int:
    """How many messages this slice may queue: the carriers' marketing rate times `lookahead`
    seconds, less the marketing messages already queued (never below zero)."""
    target = sum(c.marketing_mps for c in capacities.values()) * lookahead
    return max(0, int(target) - backlog)


def rate_allowance(
    max_rate: float | None, last_release: datetime | None, now: datetime, slice_seconds: float
) -> int | None:
    """Messages a campaign with `max_rate` (per second) may release now; None when unbounded.

    The time since its last release is counted up to two slices, so a late sweep catches up a
    little but an idle campaign does not store up a burst.
    """
    if max_rate is None:
        return None
    elapsed = slice_seconds if last_release is None else (now - last_release).total_seconds()
    return max(0, int(max_rate * min(max(elapsed, 0.0), 2 * slice_seconds)))


def fair_share(budget: int, demands: Mapping[str, int]) -> dict[str, int]:
    """Split `budget` between campaigns max-min fairly: nobody gets more than it asks, and no
    campaign gets less than another unless it asked for less. Deterministic (ties by id)."""
    share = dict.fromkeys(demands, 0)
    left = max(0, budget)
    hungry = sorted(k for k, d in demands.items() if d > 0)
    while left > 0 and hungry:
        each, extra = divmod(left, len(hungry))
        if each == 0:  # fewer messages than campaigns: one each, in id order
            for key in hungry[:extra]:
                share[key] += 1
            break
        still: list[str] = []
        for key in hungry:
            take = min(each, demands[key] - share[key])
            share[key] += take
            left -= take
            if share[key] < demands[key]:
                still.append(key)
        hungry = still
    return share
