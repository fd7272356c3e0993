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
