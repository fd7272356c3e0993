"""Routing strategies: a table of functions that order the eligible candidates of a route.

Each strategy takes the route's plan at the number's prefix, the eligible candidates in the
plan's base order (cheapest first, ties by carrier name; the listed order for `priority`:
both fixed at compile time) and the message id, and returns them best first. It may reorder
the list it is given. Ties always fall back to the base order, so every order is total and
deterministic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from operator import attrgetter
from types import MappingProxyType

from routing.candidate import Candidate
from routing.config import Strategy
from routing.table import RoutePlan

StrategyFn = Callable[[RoutePlan, list[Candidate], str], list[Candidate]]

_score = attrgetter("score")


def least_cost(plan: RoutePlan, eligible: list[Candidate], message_id: str) -> list[Candidate]:
    """Cheapest per segment first; ties by carrier name (the base order, from compile time)."""
    return eligible


def quality(plan: RoutePlan, eligible: list[Candidate], message_id: str) -> list[Candidate]:
    """Best health score first, then cheapest, then carrier name."""
    # The base order is (cost, name) and list.sort is stable, also in reverse: sort on score.
    eligible.sort(key=_score, reverse=True)
    return eligible


def weighted(plan: RoutePlan, eligible: list[Candidate], message_id: str) -> list[Candidate]:
    """One carrier drawn by weight from a stable hash of the message id; the rest by cost.

    The draw is over the eligible carriers' weights only, in the route's listed order, so an
    excluded carrier's share spreads over the others in proportion. blake2b, not hash(): the
    same message id must pick the same carrier in every process (PYTHONHASHSEED differs).
    """
    weights = plan.weights
    by_name = {c.carrier: c for c in eligible}
    pool = [p.carrier for p in plan.priced if p.carrier in by_name and weights[p.carrier] > 0]
    total = sum(weights[name] for name in pool)
    if total == 0:
        return eligible
    digest = hashlib.blake2b(message_id.encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") % total  # 2**64 ≫ 100: the modulo bias is negligible
    picked = pool[-1]
    for name in pool:
        point -= weights[name]
        if point < 0:
            picked = name
            break
    first = by_name[picked]
    return [first, *(c for c in eligible if c is not first)]


def priority(plan: RoutePlan, eligible: list[Candidate], message_id: str) -> list[Candidate]:
    """The route's listed order (the base order of a priority plan)."""
    return eligible


STRATEGIES: Mapping[Strategy, StrategyFn] = MappingProxyType(
    {
        Strategy.LEAST_COST: least_cost,
        Strategy.QUALITY: quality,
        Strategy.WEIGHTED: weighted,
        Strategy.PRIORITY: priority,
    }
)
