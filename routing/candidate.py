"""`Candidate`: one carrier the engine proposes for a message, in order."""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple


class Candidate(NamedTuple):
    """One carrier to try, in order; `cost` is `price_per_segment` times the segments.

    A NamedTuple rather than a frozen dataclass: one is built for every carrier of every
    message, and a frozen dataclass costs about five times as much to construct.
    """

    carrier: str
    route: str
    price_per_segment: Decimal
    cost: Decimal
    currency: str
    score: float
    reason: str
