"""Routing strategies: a table of functions that order the eligible carriers of a route.

Each strategy takes the route's plan at the number's prefix (prices resolved and sorted by
cost at compile time), the names of the carriers still eligible, the message id and the
health snapshot, and returns the eligible prices best first. Ties always fall back to cost,
then carrier name, so every order is total and deterministic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType

from routing.config import Strategy
from routing.health import HEALTHY, Snapshot
from routing.table import Price, RoutePlan

StrategyFn = Callable[[RoutePlan, Collection[str], str, Snapshot], list[Price]]


def least_cost(
    plan: RoutePlan, allowed: Collection[str], message_id: str, snapshot: Snapshot
) -> list[Price]:
    """Cheapest per segment first; ties by carrier name (order precomputed at compile time)."""
    return [p for p in plan.by_cost if p.carrier in allowed]


def quality(
    plan: RoutePlan, allowed: Collection[str], message_id: str, snapshot: Snapshot
) -> list[Price]:
    """Best health score first, then cheapest, then carrier name."""
    prices = [p for p in plan.by_cost if p.carrier in allowed]
    if snapshot.carriers:
        health_of = snapshot.carriers.get
        # by_cost is already in (cost, name) order and list.sort is stable: sort on score only.
        prices.sort(key=lambda p: -health_of(p.carrier, HEALTHY).score)
    return prices


def weighted(
    plan: RoutePlan, allowed: Collection[str], message_id: str, snapshot: Snapshot
) -> list[Price]:
    """One carrier drawn by weight from a stable hash of the message id; the rest by cost.

    The draw is over the eligible carriers' weights only, so an excluded carrier's share
    spreads over the others in proportion. blake2b, not hash(): the same message id must pick
    the same carrier in every process (PYTHONHASHSEED differs between workers).
    """
    weights = plan.weights
    pool = [p for p in plan.priced if p.carrier in allowed and weights[p.carrier] > 0]
    total = sum(weights[p.carrier] for p in pool)
    if total == 0:
        return least_cost(plan, allowed, message_id, snapshot)
    digest = hashlib.blake2b(message_id.encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") % total  # 2**64 ≫ 100: the modulo bias is negligible
    picked = pool[-1]
    for price in pool:
        point -= weights[price.carrier]
        if point < 0:
            picked = price
            break
    return [picked, *(p for p in plan.by_cost if p.carrier in allowed and p is not picked)]


def priority(
    plan: RoutePlan, allowed: Collection[str], message_id: str, snapshot: Snapshot
) -> list[Price]:
    """The route's listed order."""
    return [p for p in plan.priced if p.carrier in allowed]


STRATEGIES: Mapping[Strategy, StrategyFn] = MappingProxyType(
    {
        Strategy.LEAST_COST: least_cost,
        Strategy.QUALITY: quality,
        Strategy.WEIGHTED: weighted,
        Strategy.PRIORITY: priority,
    }
)
