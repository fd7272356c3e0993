"""Routing strategies: a table of functions that order the eligible carriers of a route.

Each strategy takes the route's plan at the number's prefix, the eligible prices in the plan's
base order (cheapest first, ties by carrier name; the listed order for `priority`: both fixed
at compile time), the message id and the health snapshot, and returns them best first. Ties
always fall back to cost, then carrier name, so every order is total and deterministic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from routing.config import Strategy
from routing.health import HEALTHY, Snapshot
from routing.table import Price, RoutePlan

StrategyFn = Callable[[RoutePlan, Sequence[Price], str, Snapshot], list[Price]]


def least_cost(
    plan: RoutePlan, eligible: Sequence[Price], message_id: str, snapshot: Snapshot
) -> list[Price]:
    """Cheapest per segment first; ties by carrier name (the base order, from compile time)."""
    return list(eligible)


def quality(
    plan: RoutePlan, eligible: Sequence[Price], message_id: str, snapshot: Snapshot
) -> list[Price]:
    """Best health score first, then cheapest, then carrier name."""
    prices = list(eligible)
    if snapshot.carriers:
        health_of = snapshot.carriers.get
        # The base order is (cost, name) and list.sort is stable: sort on score only.
        prices.sort(key=lambda p: -health_of(p.carrier, HEALTHY).score)
    return prices


def weighted(
    plan: RoutePlan, eligible: Sequence[Price], message_id: str, snapshot: Snapshot
) -> list[Price]:
    """One carrier drawn by weight from a stable hash of the message id; the rest by cost.

    The draw is over the eligible carriers' weights only, in the route's listed order, so an
    excluded carrier's share spreads over the others in proportion. blake2b, not hash(): the
    same message id must pick the same carrier in every process (PYTHONHASHSEED differs).
    """
    weights = plan.weights
    names = {p.carrier for p in eligible}
    pool = [p for p in plan.priced if p.carrier in names and weights[p.carrier] > 0]
    total = sum(weights[p.carrier] for p in pool)
    if total == 0:
        return list(eligible)
    digest = hashlib.blake2b(message_id.encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") % total  # 2**64 ≫ 100: the modulo bias is negligible
    picked = pool[-1]
    for price in pool:
        point -= weights[price.carrier]
        if point < 0:
            picked = price
            break
    return [picked, *(p for p in eligible if p is not picked)]


def priority(
    plan: RoutePlan, eligible: Sequence[Price], message_id: str, snapshot: Snapshot
) -> list[Price]:
    """The route's listed order (the base order of a priority plan)."""
    return list(eligible)


STRATEGIES: Mapping[Strategy, StrategyFn] = MappingProxyType(
    {
        Strategy.LEAST_COST: least_cost,
        Strategy.QUALITY: quality,
        Strategy.WEIGHTED: weighted,
        Strategy.PRIORITY: priority,
    }
)
