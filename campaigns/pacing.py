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

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class CarrierCapacity:
    """One carrier's throughput as the routes file gives it."""

    mps: int

    @property
    def marketing_mps(self) -> float:
        """Messages per second marketing may use at best (one segment a message; the OTP
        reserve is lent while no OTP waits)."""
        return float(self.mps)


def slice_budget(
    capacities: Mapping[str, CarrierCapacity],
    backlog: int,
    lookahead: float,
    slice_seconds: float = 0.0,
) -> int:
    """How many messages this slice may queue: the carriers' marketing rate times `lookahead`
    seconds — at least two slices, so the queue still feeds every carrier when the next slice
    comes a whole slice late — less the marketing messages already queued (never below zero).

    The backlog is what the previous slices released less what the carriers took since, so
    at the target each slice releases exactly what was sent since the last one: the refill
    follows the real send rate, and the queue never holds more than the target."""
    target = sum(c.marketing_mps for c in capacities.values()) * max(lookahead, 2 * slice_seconds)
    return max(0, int(target) - backlog)


def _paced_from(
    max_rate: float, mark: datetime | None, now: datetime, slice_seconds: float
) -> datetime:
    """Where a campaign's pace counts from: its mark, but no earlier than two slices (or two
    messages' worth, for a rate under one a slice) ago — a late sweep catches up a little, an
    idle or paused campaign stores up no burst."""
    if mark is None:
        return now - timedelta(seconds=slice_seconds)
    earliest = now - timedelta(seconds=max(2 * slice_seconds, 2 / max_rate))
    return min(max(mark, earliest), now)


def rate_allowance(
    max_rate: float | None, mark: datetime | None, now: datetime, slice_seconds: float
) -> int | None:
    """Messages a campaign with `max_rate` (per second) may release now; None when unbounded.

    `mark` is the campaign's pace mark (`advance_mark`): the time up to which what it released
    so far has used its rate. The allowance is the whole messages the rate gives from there to
    now; the fraction left over stays behind the mark for the next slice, so a rate of 2.5/s
    over 1 s slices releases 2, 3, 2, 3… and 0.5/s one every other slice — never rounded away.
    """
    if max_rate is None:
        return None
    elapsed = (now - _paced_from(max_rate, mark, now, slice_seconds)).total_seconds()
    return max(0, math.floor(max_rate * elapsed + 1e-9))


def advance_mark(
    max_rate: float | None,
    mark: datetime | None,
    released: int,
    now: datetime,
    slice_seconds: float,
) -> datetime:
    """The pace mark after a slice released `released` messages: moved on by the time they use
    at `max_rate`, not to `now` — a slice that released less than its allowance (a full
    marketing queue, the fair share, quiet hours) leaves the difference to the next slices (up
    to two slices' worth), so the rate holds over time. No max rate: `now`."""
    if max_rate is None:
        return now
    start = _paced_from(max_rate, mark, now, slice_seconds)
    return min(now, start + timedelta(seconds=released / max_rate))


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
