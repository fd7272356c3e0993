"""The sliding-window log as a pure function: the one definition both window twins follow.

A hit counts while it is younger than the window; a refused hit is not recorded, so a
client hammering a closed window does not keep it closed. Time is integer microseconds.
`sliding_window.lua` transcribes :func:`hit`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MICROS = 1_000_000


@dataclass(frozen=True)
class WindowResult:
    """The verdict on one hit: allowed?, hits left in the window, seconds until the next fits.

    `degraded` is True when the store could not be reached and the limiter failed open
    (then `remaining` is unknown and reported as `limit - 1`).
    """

    allowed: bool
    remaining: int
    retry_after: float
    degraded: bool = False


def window_us(window_seconds: float) -> int:
    """The window in whole microseconds (at least 1).

    Raises:
        ValueError: `window_seconds` is not a positive finite number.
    """
    if not (math.isfinite(window_seconds) and window_seconds > 0):
        raise ValueError(f"window_seconds must be a positive finite number, got {window_seconds!r}")
    return max(1, round(window_seconds * MICROS))


def check_limit(limit: int) -> None:
    """Reject a limit no window could honour.

    Raises:
        ValueError: `limit` < 1.
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit!r}")


def hit(
    log: Sequence[int], now_us: int, limit: int, span_us: int
) -> tuple[tuple[int, ...], WindowResult]:
    """One hit at `now_us` against the hits in `log` (ascending µs): the new log and verdict."""
    # A hit counts while now - at < span (Redis: ZREMRANGEBYSCORE -inf now-span).
    live = tuple(at for at in log if at > now_us - span_us)
    if len(live) < limit:
        return (*live, now_us), WindowResult(True, limit - len(live) - 1, 0.0)
    return live, WindowResult(False, 0, (live[0] + span_us - now_us) / MICROS)
