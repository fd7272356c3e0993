"""Pacing a lane's submits: the bucket's shape for a carrier's MPS, and the local pacer that
spends the tokens the cluster-wide bucket grants at evenly spaced slots.

The Redis bucket (`ratelimit.take_lane`) decides how many tokens a lane may spend and when the
last is due, on Redis's clock. :class:`Pacer` turns that grant into slots on this process's
monotonic clock and hands them out one at a time, never two closer than the carrier's own
interval `1/M` (at its current AIMD pace): a carrier counting a strict 1-s window, and one with
a bucket of one token (burst 1), see an even stream rather than the bursts a late wake-up
would otherwise release. Pure: the clock is passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Carriers count MPS over any 1-s window (see `bucket_shape` for the arithmetic).
BUCKET_BURST_SHARE = 0.01  # capacity: 1% of a second's tokens (at least one PDU)
# Pace at 99.5% of what the burst leaves: a full bucket at the start of a 1-s window plus a
# second of slots fits M with 5 ms of lateness (`JITTER_BUDGET`); under a backlog the bucket
# is empty and the slack is `M - r` (~1.5% of M: 15 ms at M = 200, 25 ms at M = 50).
MPS_HEADROOM = 0.995
# Seconds a slot may be late and still be caught up on (at the carrier's own rate, never in a
# burst); a slot later than that moves the schedule instead. The loop wakes ~1 ms late on a
# busy host: dropping those slots cost ~15% at M = 200.
JITTER_BUDGET = 0.005


def bucket_shape(mps: float) -> tuple[float, float]:
    """(rate, capacity) of our bucket for a carrier limit of `mps` over any 1-s window.

    A bucket of capacity `C` refilling at `r` grants at most `r·T + C` tokens in any `T`
    seconds. The pacer spends each grant at slots `1/r` apart, each at most `JITTER_BUDGET`
    (`j`) late, so what reaches the carrier in any 1-s window is at most `r·(1 + j) + C`.
    With `C = max(1, 1% of M)` and `r = 99.5% of (M - C)`: `r·(1 + j) + C <= M` for
    `j <= 5 ms`; the share of M we use is `r / M` = 98.5% for M >= 100 (97.5% at M = 50,
    where `C` is one PDU, 2%).
    """
    capacity = max(1.0, mps * BUCKET_BURST_SHARE)
    return max(0.5, (mps - capacity) * MPS_HEADROOM), capacity


def reserve_floor(capacity: float, reserved_share: float) -> float:
    """Tokens marketing leaves in a carrier's bucket for OTP/transactional traffic.

    A level, not a rate: it costs marketing nothing while the bucket refills, and an arriving
    OTP finds it there (no wait behind marketing). At most `capacity - 1`, so marketing can
    always take a whole token above it.
    """
    return min(capacity - 1.0, capacity * reserved_share)


def book_ahead(rate: float, capacity: float, floor: float, horizon: float) -> float:
    """Tokens a lane may book before they refill: `horizon` seconds of them, plus what a
    bucket too small for its floor lacks.

    A lane is granted a token once the level reaches `floor - ahead + 1`, and refill is lost
    once it reaches `capacity`: between the two it has `(capacity - floor + ahead - 1)/rate`
    to ask. At M = 50 (a bucket of one token, a floor of 0.2) `horizon` alone left it 0.9 ms,
    less than a loaded host's late wake-up (88% of M); topping it up keeps `horizon` there.
    """
    return rate * horizon + max(0.0, 1.0 + floor - capacity)


# How fast a clock-offset estimate is assumed to go stale (s of error per s of age): NTP keeps
# clocks within ~0.5 ms/s of each other while it slews; a fresher sample whose round trip is
# that much longer wins.
OFFSET_AGING = 0.001


def decided_at(asked_at: float, answered_at: float) -> float:
    """Local time of a Redis decision seen from this process: the midpoint of the round trip
    (the script ran between the two; the estimate is off by at most half the round trip,
    where taking the ask's time was off by all of it)."""
    return (asked_at + answered_at) / 2.0


@dataclass
class ClockOffset:
    """The bucket store's clock (Redis `TIME`) minus this process's monotonic clock.

    Every ask is a sample: the store decided somewhere in the round trip, so the sample is
    off by at most half of it. The sample with the shortest round trip (aged by
    `OFFSET_AGING`) wins, as NTP's clock filter does: every worker then maps the bucket's
    one schedule onto its own clock within ~its best half round trip, not within whatever
    the last loaded round trip was — two workers' slots for a burst-1 carrier stay apart.
    Hosts need not agree on the time (skew is what it measures), only not drift fast.
    """

    offset: float = 0.0
    round_trip: float = float("inf")  # of the sample in use
    sampled_at: float = 0.0

    def observe(self, asked_at: float, answered_at: float, remote: float) -> float:
        """A decision the store stamped `remote` (s), asked and answered at local times;
        returns the local time of the decision."""
        round_trip = max(0.0, answered_at - asked_at)
        aged = self.round_trip + (answered_at - self.sampled_at) * OFFSET_AGING
        if round_trip <= aged:
            self.offset = remote - decided_at(asked_at, answered_at)
            self.round_trip, self.sampled_at = round_trip, answered_at
        return self.local(remote)

    def local(self, remote: float) -> float:
        """A time on the store's clock, on this process's clock."""
        return remote - self.offset


# The store's clock on this process's monotonic clock, shared by every Sender of the process
# (the best sample of all their asks wins; a fork keeps it valid: the monotonic clock is the
# host's and the store's is the store's).
PROCESS_STORE_CLOCK = ClockOffset()


@dataclass
class Pacer:
    """Spends a lane's granted tokens at slots `1/rate` apart (the rate the bucket granted
    them at).

    A slot up to `JITTER_BUDGET` late is still used, and a later one moves the schedule;
    credit whose slots are long past is dropped (spending it would burst past the bucket's
    promise). How a late wake-up catches up depends on the carrier: normally the slots it
    missed go at once — a strict 1-s window counts only what the bucket granted, and on a
    CPU-starved worker, catching up at half an interval lost more than it spared (the base
    pacer's 96.8% of M at 200 against 94.0%); while the carrier's pace is cut (it throttled,
    so it may be one that refuses gaps under its 1/M, as a burst-1 carrier does) they go one
    at a time, never two closer than halfway between `1/rate` and `1/M`.
    """

    credit: int = 0  # tokens granted, not spent yet
    interval: float = 0.0  # seconds between two slots at the granted rate
    careful: bool = False  # the carrier throttled lately: one slot at a time, `min_gap` apart
    min_gap: float = 0.0  # seconds between two PDUs at least while careful (just over 1/M)
    next_at: float = 0.0  # monotonic time of the next slot
    last_at: float = float("-inf")  # when the last slot was taken
    stale_at: float = 0.0  # credit still unspent then is dropped
    late_limit: float = float("inf")  # a slot later than this is dropped (one sender's lane)

    def add(
        self,
        tokens: int,
        rate: float,
        limit: float,
        capacity: float,
        at: float,
        due_in: float,
        cut: bool = False,
        one_sender: bool = False,
    ) -> None:
        """`tokens` just granted by a bucket refilling at `rate` for a carrier allowing
        `limit`/s, decided at local time `at` (:func:`decided_at`), the last due `due_in` s
        after (booked ahead: the earlier ones due one interval apart before it). `cut`: the
        carrier's pace is cut (it throttled lately), so catch-ups keep clear of its 1/M.
        `one_sender`: this process alone sends on the lane (its tenure), so it keeps every
        two PDUs at least 1/M apart (measured from the end of the last write)."""
        if tokens <= 0:
            return
        self.credit += tokens
        self.interval = 1.0 / rate
        self.careful = cut or one_sender
        # Halfway between the carrier's 1/M and our 1/r: a catch-up keeps half the slack.
        halfway = (1.0 / limit + self.interval) / 2.0 if cut else 0.0
        self.min_gap = max(halfway, 1.0 / limit + GAP_MARGIN) if one_sender else halfway
        last_due = at + due_in
        self.next_at = max(self.next_at, last_due - (self.credit - 1) * self.interval)
        self.stale_at = last_due + capacity / rate + JITTER_BUDGET + self.credit * self.min_gap
        # One sender's lane: an OTP's slot may sit a hole after this lane's slot (see
        # `priority_slots`); a slot sent later than the hole allows could come within 1/M of it.
        self.late_limit = priority_late(priority_hole(rate), rate) if one_sender else float("inf")

    def due_at(self) -> float:
        """When the next slot may be taken (meaningless without credit)."""
        return max(self.next_at, self.last_at + self.min_gap)

    def release(self, now: float) -> int:
        """Slots that have come (covered by credit): while careful at most one."""
        if self.credit and (now > self.stale_at or now > self.next_at + self.late_limit):
            self.credit = 0
        if not self.credit or now < self.due_at():
            return 0
        if self.careful:
            return 1
        first = max(self.next_at, now - JITTER_BUDGET)
        return min(self.credit, int((now - first) / self.interval) + 1)

    def spend(self, tokens: int, now: float) -> None:
        """`tokens` PDUs submitted at `now` (the parts of one message go together): their
        slots are taken."""
        self.credit = max(0, self.credit - tokens)
        # Late by more than the budget: the schedule moves (what reaches the carrier stays
        # within `r·(1 + j) + C` of the bucket's promise).
        self.next_at = max(self.next_at, now - JITTER_BUDGET) + tokens * self.interval
        self.last_at = now + (tokens - 1) * self.min_gap


# One sender per carrier lane (`ratelimit.SenderLeases`): a burst-1 carrier refuses two PDUs
# closer than 1/M as it reads them, and two processes cannot keep their PDUs apart (each sends
# when its loop wakes), so a marketing lane sends from one process at a time.
TENURE_TTL = 0.25  # seconds a lane's tenure lasts unless renewed
TENURE_RENEW = 0.1  # renew once less than this is left (a few round trips a second)
TENURE_POLL = 0.005  # a process waiting for another's tenure asks again this often
# Gap kept between two PDUs of the holder over 1/M, measured between write ends and starts
# (the carrier's 1/M in float arithmetic is not exact); small: at M = 200 the slots leave
# only 76 µs a slot to catch a late one up.
GAP_MARGIN = 0.000002
HANDOVER_MARGIN = 0.001


def handover_guard(limit: float) -> float:
    """Seconds between the last PDU of one holder of a lane and the first of the next, for a
    carrier allowing `limit`/s: its 1/M, plus the two processes' clock mapping error (half
    the best round trip, well under `HANDOVER_MARGIN` on one network)."""
    return 1.0 / limit + HANDOVER_MARGIN


@dataclass
class LocalTenure:
    """A lane's tenure as this process sees it (monotonic seconds)."""

    start: float = float("inf")  # may send from here (the guard after a hand-over)
    until: float = float("-inf")  # must stop here: the tenure runs out unless renewed
    ask_at: float = float("-inf")  # when to ask the store again
    guard: float = 0.0  # the hand-over gap to leave when giving it back

    def wait(self, now: float) -> float | None:
        """Seconds until this process may send (0: now); None: ask the store."""
        if self.until - now > TENURE_RENEW:
            return max(0.0, self.start - now)
        if now < self.ask_at:
            return self.ask_at - now
        return None

    def held(self, asked_at: float, start: float, until_in: float) -> None:
        """The store granted the tenure: from local `start`, `until_in` s after the store
        decided, counted from the ask (the earliest the decision can have been)."""
        self.start, self.until = start, asked_at + until_in
        self.ask_at = float("-inf")

    def refused(self, now: float, retry_in: float) -> None:
        """Another process holds it (or the store failed): ask again in `retry_in` s."""
        self.start, self.until, self.ask_at = float("inf"), float("-inf"), now + retry_in


# OTP/transactional on a carrier that refuses gaps under 1/M (burst 1): no tenure (they must not
# wait behind marketing), but a slot of the bucket's one schedule with tokens left unspent on
# each side of it — a hole at least this long before and after — so a marketing PDU sent late
# by up to about that much, or the OTP's own late write, still leaves the carrier its 1/M.
PRIORITY_GUARD = 0.0015


def priority_hole(rate: float) -> int:
    """Tokens left unspent on each side of a priority PDU's slot at `rate` tokens/s (at least
    one: `PRIORITY_GUARD` or more of schedule)."""
    return max(1, math.ceil(PRIORITY_GUARD * rate - 1e-9))


def priority_slots(due: float, parts: int, hole: int, rate: float) -> list[float]:
    """Slots of `parts` priority PDUs granted as `parts + 2 * hole` tokens by a bucket
    refilling at `rate`, the last token due at `due`: `hole` tokens' time after the previous
    grant's slot, `1/rate` apart, and `hole` tokens' time before the next grant's.

    The schedule puts a grant's tokens one `1/rate` apart after the previous grant's
    (`ratelimit.model.take_lane`), so token `j` of this one is due at `due - (n - j)/rate`.
    """
    first = due - (hole + parts - 1) / rate
    return [first + i / rate for i in range(parts)]


# What two processes' mappings of the bucket's clock may disagree by (half the best round trip
# each, `ClockOffset`), taken off the hole a late slot may use.
SLOT_CLOCK_ERROR = 0.0005


def priority_late(hole: int, rate: float) -> float:
    """Seconds a slot next to a priority PDU's hole may be late and still be used.

    A priority slot sits `hole + 1` tokens' time (`(hole + 1)/rate`) after the one sender's
    slot before it and before its slot after; with `1/rate > 1/M`, either may be late by up to
    `hole/rate` (less the clock mappings' error) and the carrier still sees 1/M between them.
    Past that the slot is not used: the lane takes a new one.
    """
    return max(SLOT_CLOCK_ERROR, hole / rate - SLOT_CLOCK_ERROR)
