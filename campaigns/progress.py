"""A live campaign as the dashboard shows it (pure; the clock is passed in).

From a campaign's messages counted by status (and its scheduled ones by release zone):
the tally (sent, delivered, failed, skipped of the total), the current rate (from the
tallies of earlier ticks), the ETA and the quiet-hour hold (scheduled recipients whose local
send window is closed now, and when the first of them opens).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from campaigns.windows import SendWindow, is_open, next_open, zones_of_key
from messaging import Status

# reached a carrier (a receipt or its absence decides the rest)
_SENT = frozenset({Status.SENT, Status.DELIVERED, Status.UNDELIVERED, Status.EXPIRED})
_FAILED = frozenset({Status.FAILED, Status.UNDELIVERED, Status.EXPIRED})
_SKIPPED = frozenset({Status.REJECTED, Status.CANCELED})  # opted out at release, canceled
_WAITING = frozenset({Status.SCHEDULED, Status.QUEUED, Status.SENDING})
RATE_WINDOW = 60.0  # seconds the current rate is measured over


@dataclass(frozen=True)
class Tally:
    """A campaign's audience by outcome so far."""

    total: int  # audience rows: recipients plus rows skipped at load
    sent: int  # accepted by a carrier (delivered, undelivered and expired included)
    delivered: int
    failed: int  # failed, undelivered or expired
    skipped: int  # skipped at load, opted out at release, or canceled
    remaining: int  # scheduled, queued or being sent

    @property
    def done(self) -> int:
        """Recipients that left the campaign's queue (sent, failed or skipped at release)."""
        return self.total - self.remaining


def tally(by_status: Mapping[str, int], skipped_at_load: int) -> Tally:
    """The tally of messages counted by status, plus the audience rows skipped at load."""

    def count(statuses: frozenset[Status]) -> int:
        return sum(by_status.get(s.value, 0) for s in statuses)

    # undelivered and expired ones are in both `sent` and `failed`: they reached a carrier
    return Tally(
        total=sum(by_status.values()) + skipped_at_load,
        sent=count(_SENT),
        delivered=by_status.get(Status.DELIVERED.value, 0),
        failed=count(_FAILED),
        skipped=count(_SKIPPED) + skipped_at_load,
        remaining=count(_WAITING),
    )


def rate(history: Sequence[tuple[float, int]], window: float = RATE_WINDOW) -> float:
    """Recipients per second over the last `window` seconds of (monotonic time, done) samples,
    oldest first; 0 with fewer than two samples."""
    if len(history) < 2:
        return 0.0
    now, done_now = history[-1]
    inside = [(t, d) for t, d in history if now - t <= window]
    start, done_then = inside[0] if len(inside) > 1 else history[-2]
    return max(0, done_now - done_then) / max(now - start, 1e-9)


@dataclass(frozen=True)
class Hold:
    """Scheduled recipients the send window holds back now."""

    held: int  # recipients waiting for their local window to open
    zones: int  # release zones closed now (of those with scheduled recipients)
    until: datetime | None  # the first minute one of them opens (None: none held, or none
    # opens within the horizon)


NO_HOLD = Hold(0, 0, None)


def quiet_hold(
    send_window: str | None,
    scheduled_by_zone: Mapping[str, int],
    now: datetime,
    opens_at: MutableMapping[tuple[str, str], datetime | None] | None = None,
) -> Hold:
    """Which scheduled recipients are outside their send window at `now` (aware).

    `opens_at` keeps, per (window, zone key), when a closed zone opens: `next_open` walks
    minute by minute (up to 48 h), so a caller that asks each second passes one mapping and
    pays that walk once per zone per closed spell, not per call.
    """
    if not send_window:
        return NO_HOLD
    window = SendWindow.parse(send_window)
    closed = {
        key: n
        for key, n in scheduled_by_zone.items()
        if not is_open(window, zones_of_key(key), now)
    }
    if not closed:
        return NO_HOLD
    memo = opens_at if opens_at is not None else {}
    opens = []
    for key in closed:
        slot = (send_window, key)
        cached = memo.get(slot)
        if slot not in memo or (cached is not None and cached <= now):  # unknown, or passed
            cached = memo[slot] = next_open(window, zones_of_key(key), now)
        opens.append(cached)
    return Hold(sum(closed.values()), len(closed), min((t for t in opens if t), default=None))


def eta_seconds(
    remaining: int, held: int, current_rate: float, max_rate: float | None
) -> int | None:
    """Seconds until the recipients not held by the window are sent, at the current rate (the
    campaign's max rate before any rate is measured); None when neither is known, or when
    every recipient left waits for its window."""
    if remaining <= 0:
        return 0
    moving = remaining - held
    if moving <= 0:
        return None
    pace = current_rate or (max_rate or 0.0)
    return round(moving / pace) if pace > 0 else None


def shown_state(state: str, start_at: datetime, now: datetime) -> str:
    """`scheduled` for a running campaign whose start time is still ahead, else its state."""
    return "scheduled" if state == "running" and start_at > now else state
