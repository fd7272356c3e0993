"""What changes between two routing tables: prices, and who carries traffic to each prefix."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from messaging import Encoding, MessageClass
from routing.config import Strategy
from routing.engine import RouteRequest, route
from routing.health import Snapshot
from routing.table import RoutingTable


@dataclass(frozen=True, slots=True)
class PriceChange:
    """A carrier's per-segment price for a prefix appeared, vanished or moved."""

    carrier: str
    prefix: str
    old: Decimal | None
    new: Decimal | None


@dataclass(frozen=True, slots=True)
class CarrierChange:
    """Traffic of one class (and account) to a prefix goes another way, at full health."""

    prefix: str
    message_class: MessageClass
    account: str | None
    old_route: str | None
    new_route: str | None
    old: tuple[str, ...]  # carriers in order, "name price"; weighted: "name weight%"
    new: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExclusionChange:
    """A carrier's ``exclude_prefixes`` or an account's ``blocked_prefixes`` gained or lost one."""

    section: str  # "carriers" or "accounts"
    name: str
    prefix: str
    added: bool


@dataclass(frozen=True, slots=True)
class TableDiff:
    """Every price change, every prefix whose carriers change, and every exclusion change."""

    prices: tuple[PriceChange, ...]
    carriers: tuple[CarrierChange, ...]
    exclusions: tuple[ExclusionChange, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.prices or self.carriers or self.exclusions)


def diff_tables(old: RoutingTable, new: RoutingTable) -> TableDiff:
    """Compare two tables prefix by prefix, for every class and every account they name."""
    return TableDiff(
        _price_changes(old, new), _carrier_changes(old, new), _exclusion_changes(old, new)
    )


def _exclusion_changes(old: RoutingTable, new: RoutingTable) -> tuple[ExclusionChange, ...]:
    def lists(table: RoutingTable) -> dict[tuple[str, str], set[str]]:
        out = {("carriers", c.name): set(c.exclude_prefixes) for c in table.carriers.values()}
        out.update((("accounts", a.name), set(a.blocked_prefixes)) for a in table.accounts.values())
        return out

    before, after = lists(old), lists(new)
    changes = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key, set()), after.get(key, set())
        changes += [ExclusionChange(*key, p, False) for p in sorted(was - now)]
        changes += [ExclusionChange(*key, p, True) for p in sorted(now - was)]
    return tuple(changes)


def _price_changes(old: RoutingTable, new: RoutingTable) -> tuple[PriceChange, ...]:
    changes = []
    for carrier in sorted(set(old.price_lists) | set(new.price_lists)):
        before = old.price_lists.get(carrier, {})
        after = new.price_lists.get(carrier, {})
        for prefix in sorted(set(before) | set(after)):
            was, now = before.get(prefix), after.get(prefix)
            old_amount = was.per_segment if was else None
            new_amount = now.per_segment if now else None
            if old_amount != new_amount:
                changes.append(PriceChange(carrier, prefix, old_amount, new_amount))
    return tuple(changes)


def _carrier_changes(old: RoutingTable, new: RoutingTable) -> tuple[CarrierChange, ...]:
    prefixes = sorted(_prefixes(old) | _prefixes(new))
    accounts = sorted(
        {r.match.account for t in (old, new) for r in t.routes if r.match.account is not None}
    )
    changes = []
    for prefix in prefixes:
        for message_class in MessageClass:
            for account in (None, *accounts):
                was_route, was = _summary(old, prefix, message_class, account)
                now_route, now = _summary(new, prefix, message_class, account)
                if (was_route, was) != (now_route, now):
                    changes.append(
                        CarrierChange(
                            prefix, message_class, account, was_route, now_route, was, now
                        )
                    )
    return tuple(changes)


def _prefixes(table: RoutingTable) -> set[str]:
    out = {r.match.prefix for r in table.routes if r.match.prefix}
    for prices in table.price_lists.values():
        out.update(prices)
    return out


def _summary(
    table: RoutingTable, prefix: str, message_class: MessageClass, account: str | None
) -> tuple[str | None, tuple[str, ...]]:
    plan = table.plan(prefix, message_class, account)
    if plan is None:
        return None, ()
    if plan.route.strategy is Strategy.WEIGHTED:
        # The order of a weighted route depends on each message id; its split does not.
        return plan.route.name, tuple(
            f"{p.carrier} {plan.weights[p.carrier]}% {p.per_segment}" for p in plan.priced
        )
    request = RouteRequest("diff", prefix, message_class, 1, Encoding.GSM7, account)
    candidates = route(request, table, Snapshot.empty())
    return plan.route.name, tuple(f"{c.carrier} {c.price_per_segment}" for c in candidates)
