"""Least-cost spill: which of a message's candidates takes it now, given whose MPS tokens are here.

`route()` orders the carriers; this decides, at the instant of a token take, where a message
goes. Without spill it waits for its current candidate. With spill, a message whose current
candidate has no token now goes to the first later candidate that has one — still the best
(cheapest, for `least_cost`) among the carriers that can take it now — instead of waiting:
a campaign then gets the cheap carrier's whole rate *and* the others' (before, it got the
others only for what overflowed a half-second backlog of the cheap one; docs/performance.md).
The token is the chosen carrier's own, so spilling never sends past a carrier's MPS.

Pure: `has_token` is asked about carriers in order and may fetch lazily (the worker takes
from a carrier's bucket the first time a pass asks about it); the first yes wins, so no
carrier after it is asked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def take_now(carriers: Sequence[str], spill: bool, has_token: Callable[[str], bool]) -> int | None:
    """The position in `carriers` (the message's untried candidates, best first) of the one
    that takes the message now, or None when it waits.

    Args:
        carriers: the current candidate first, then the later ones, in the route's order.
        spill: the route spills for this message's class (`Route.spills`).
        has_token: whether a carrier has the message's tokens now (asked in order, at most
            once each, and only until one says yes).
    """
    if not carriers:
        return None
    if not spill:
        return 0 if has_token(carriers[0]) else None
    for position, carrier in enumerate(carriers):
        if has_token(carrier):
            return position
    return None
