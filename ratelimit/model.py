"""The token bucket as a pure function: the one definition both twins follow.

`token_bucket.lua` is a line-by-line transcription of :func:`take`; the arithmetic is done in
the same order on IEEE doubles (Lua numbers) so the two agree bit for bit, which the
integration suite checks with hypothesis. Time is an integer count of microseconds, as Redis
`TIME` gives it, so no precision is lost at 1.7e15 (< 2**53).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MICROS = 1_000_000


@dataclass(frozen=True)
class Grant:
    """Tokens granted by one take and, when short, seconds until the rest could be granted.

    `retry_after` is 0.0 when fully granted and `math.inf` when an all-or-nothing request asks
    for more than the bucket can ever hold.
    """

    granted: int
    retry_after: float


@dataclass(frozen=True)
class BucketState:
    """What a bucket remembers: tokens left after the last take, and when (microseconds)."""

    tokens: float
    updated_us: int
    # When priority traffic (a lane without a floor) was last refused (`take_lane`).
    wanted_us: int | None = None


def check_limits(rate: float, capacity: float, tokens: int) -> None:
    """Reject arguments no bucket could honour.

    Raises:
        ValueError: `rate` or `capacity` is not a positive finite number, or `tokens` < 0.
    """
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be a positive finite number of tokens/s, got {rate!r}")
    if not (math.isfinite(capacity) and capacity > 0):
        raise ValueError(f"capacity must be a positive finite number of tokens, got {capacity!r}")
    if tokens < 0:
        raise ValueError(f"tokens must be >= 0, got {tokens!r}")


def level(state: BucketState | None, now_us: int, rate: float, capacity: float) -> float:
    """Tokens in the bucket at `now_us`; an unknown (or expired) bucket is full."""
    if state is None:
        return float(capacity)
    # A clock that steps back (Redis failover to another host) refills nothing, never drains.
    elapsed_us = max(0, now_us - state.updated_us)
    return min(float(capacity), state.tokens + elapsed_us * rate / MICROS)


def take(
    state: BucketState | None,
    now_us: int,
    rate: float,
    capacity: float,
    tokens: int,
    partial: bool,
) -> tuple[BucketState | None, Grant, float]:
    """Take `tokens` at `now_us`: the new state, the grant, and the tokens left.

    All-or-nothing unless `partial`, in which case as many whole tokens as the bucket holds, up
    to `tokens`. Asking for 0 tokens reads the level and leaves the state as it was.
    """
    available = level(state, now_us, rate, capacity)
    if partial:
        granted = min(tokens, math.floor(available))
    elif available >= tokens:
        granted = tokens
    else:
        granted = 0
    left = available - granted
    retry_after = 0.0
    if granted < tokens:
        if not partial and tokens > capacity:
            retry_after = math.inf
        else:
            # partial: the rest, but never more than a full bucket (it cannot hold more).
            wanted = min(tokens - granted, capacity) if partial else tokens
            retry_after = (wanted - left) / rate
    if tokens == 0:
        return state, Grant(0, 0.0), left
    return BucketState(left, now_us), Grant(granted, retry_after), left


def take_chain(
    states: Sequence[BucketState | None],
    now_us: int,
    shapes: Sequence[tuple[float, float]],
    tokens: int,
) -> tuple[list[BucketState], Grant]:
    """Take up to `tokens` from several buckets at once (`shapes`: their (rate, capacity)).

    Grants as many whole tokens as the emptiest bucket holds, up to `tokens`, from every bucket:
    a lane limited by two buckets (its class's share and the carrier's whole limit) asks once
    and wastes no token of one that the other refuses. `retry_after` is when the rest (at most a
    full bucket) could be granted by all of them. `token_chain.lua` transcribes this.
    """
    available = [
        level(state, now_us, rate, capacity)
        for state, (rate, capacity) in zip(states, shapes, strict=True)
    ]
    granted = tokens
    for tokens_there in available:
        granted = min(granted, math.floor(tokens_there))
    retry_after = 0.0
    new_states = []
    for tokens_there, (rate, capacity) in zip(available, shapes, strict=True):
        left = tokens_there - granted
        if granted < tokens:
            wanted = min(tokens - granted, capacity)
            retry_after = max(retry_after, (wanted - left) / rate)
        new_states.append(BucketState(left, now_us))
    return new_states, Grant(granted, retry_after)


def idle_ttl_ms(rate: float, capacity: float) -> int:
    """Milliseconds after which an untouched bucket is full again, plus a second of slack.

    Past this an expired bucket and a full one are the same thing, so the TTL never changes
    a decision; it only frees memory.
    """
    return math.ceil(capacity / rate * 1000) + 1000


@dataclass(frozen=True)
class PaceState:
    """A carrier's adaptive pace: the share of its configured rate allowed at `updated_us`.

    Written only by a cut; in between the share grows back additively (:func:`pace_at`).
    """

    factor: float
    updated_us: int


def pace_at(state: PaceState | None, now_us: int, recover_per_s: float) -> float:
    """The share of the configured rate allowed at `now_us` (1.0: no cut, or fully recovered)."""
    if state is None:
        return 1.0
    elapsed_us = max(0, now_us - state.updated_us)
    return min(1.0, state.factor + elapsed_us * recover_per_s / MICROS)


def cut_pace(
    state: PaceState | None,
    now_us: int,
    recover_per_s: float,
    cut: float,
    minimum: float,
    cooldown_us: int,
) -> tuple[PaceState, bool]:
    """Multiplicative decrease on a throttle: (new state, whether it cut).

    One cut per `cooldown_us`: the throttles of one overshoot arrive together (a window of
    submits in flight), and each must not halve the rate again. `pace_cut.lua` transcribes this.
    """
    if state is not None and now_us - state.updated_us < cooldown_us:
        return state, False
    factor = max(minimum, pace_at(state, now_us, recover_per_s) * cut)
    return PaceState(factor, now_us), True


def take_lane(
    state: BucketState | None,
    pace: PaceState | None,
    now_us: int,
    rate: float,
    capacity: float,
    floor: float,
    recover_per_s: float,
    tokens: int,
    ahead: float = 0.0,
    yield_us: int = 0,
    whole: bool = False,
) -> tuple[BucketState, Grant, float, float]:
    """Take up to `tokens` from a carrier's bucket, paced and work-conserving.

    The bucket refills at `rate` times the carrier's current pace (:func:`pace_at`). A lane
    with a `floor` (marketing) may take only the whole tokens above it; a lane without (OTP,
    transactional) may take every whole token. So marketing uses all of the carrier's rate
    that priority traffic leaves, and an arriving OTP finds `floor` tokens waiting and wins
    every refill while it keeps the level below the floor: the reserve is a floor for OTP,
    not a ceiling for marketing, and a level costs marketing no rate.

    A priority lane refused tokens marks the bucket (`wanted_us`); for `yield_us` after that,
    or until a priority lane is granted all it asked, a lane with a `yield_us` (marketing)
    books nothing ahead and leaves the token the priority lane waits for: it takes only what
    lies above `max(capacity - 1, 1)` — a token of a full bucket, or nothing at all from a
    bucket of one token (M = 50: marketing asking right at each refill took every token ahead
    of a waiting OTP), and then asks again no sooner than a token's refill later, and no later
    than a token after the one the priority lane waits for exists.

    A lane may book up to `ahead` tokens before they refill (the level then goes below the
    floor, even below 0). Booking ahead keeps a small bucket from sitting full, and
    overflowing, between two asks; it delays priority traffic by at most `ahead` tokens' refill.

    Each granted token is due when the bucket would be back at `capacity - 1` after it: the
    last in the fourth value returned (seconds), the earlier ones `1/paced` apart before it.
    So the tokens of every grant, whoever asked, fall on one schedule `1/paced` apart on
    Redis's clock — never two closer, even after the bucket sat full — which a carrier with
    burst 1 needs of two workers' streams; spending them there never sends one before it
    exists (a due level at or above the floor), and never bursts a full bucket.

    A `whole` take is all or nothing: a lane that places its tokens' slots as one group (the
    priority PDUs around their hole) cannot use part of them, and a part granted and dropped
    each pass kept such a bucket in debt for good (every refill taken and thrown away).

    Returns the new state, the grant, the rate the bucket refilled at (the lane paces its
    submits at it) and when the last granted token is due. `retry_after` is when the rest (at
    most what the bucket can hold above the floor, plus `ahead`) could be granted.
    `token_lane.lua` transcribes this.
    """
    paced = rate * pace_at(pace, now_us, recover_per_s)
    available = level(state, now_us, paced, capacity)
    wanted_us = state.wanted_us if state is not None else None
    yielding = yield_us > 0 and wanted_us is not None and now_us - wanted_us < yield_us
    if yielding:
        floor, ahead = max(capacity - 1, 1.0), 0.0
    granted = min(tokens, max(0, math.floor(available - floor + ahead)))
    if whole and granted < tokens:
        granted = 0
    left = available - granted
    retry_after = 0.0
    if granted < tokens:
        wanted = min(tokens - granted, max(0.0, capacity - floor + ahead))
        retry_after = max(0.0, (wanted + floor - ahead - left) / paced)
        if yielding:
            # The priority lane is served once a token exists ((1 - left)/paced): ask again a
            # token after that, not once the bucket is back above the yield floor (12 ms of
            # M at M = 1,000, 1.1% of its MPS lost per OTP).
            retry_after = min(retry_after, max(0.0, (2.0 - left) / paced))
            if floor > capacity - 1:  # a bucket of one: after the priority lane's turn
                retry_after = max(retry_after, 1.0 / paced)
    due_in = max(0.0, capacity - 1 - left) / paced if granted > 0 else 0.0
    if yield_us == 0:  # a priority lane: refused, it marks the bucket; served, it clears it
        wanted_us = now_us if granted < tokens else None
    return BucketState(left, now_us, wanted_us), Grant(granted, retry_after), paced, due_in


def pace_ttl_ms(state: PaceState, recover_per_s: float) -> int:
    """Milliseconds after which a pace has grown back to 1.0, plus a second of slack."""
    return math.ceil(max(0.0, 1.0 - state.factor) / recover_per_s * 1000) + 1000
