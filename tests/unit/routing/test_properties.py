"""Properties of the engine over generated tables, snapshots and requests (hypothesis)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from messaging import Encoding, MessageClass
from routing import (
    AccountSpec,
    CarrierHealth,
    CarrierSpec,
    Circuit,
    Match,
    Price,
    Route,
    RouteRequest,
    RoutingTable,
    Snapshot,
    Strategy,
    route,
)

NAMES = ("a", "b", "c", "d", "e")
PREFIXES = ("+1", "+12", "+123", "+4", "+44", "+447", "+4477", "+3", "+33")
# Exclusion prefixes include some no price or route uses, so the index must split on them.
EXCLUDABLE = ("+1", "+123", "+44", "+4477", "+447712", "+33", "+339")
BOTH = frozenset(Encoding)
ENCODINGS = (BOTH, BOTH, BOTH, frozenset({Encoding.GSM7}), frozenset({Encoding.UCS2}))


@dataclass(frozen=True)
class World:
    """A generated table, its parts (for reference models), a snapshot and a request."""

    carriers: tuple[CarrierSpec, ...]
    prices: tuple[Price, ...]
    routes: tuple[Route, ...]
    snapshot: Snapshot
    request: RouteRequest
    accounts: tuple[AccountSpec, ...] = ()

    def table(self) -> RoutingTable:
        """Compile the table from its parts."""
        return RoutingTable.build(self.carriers, self.prices, self.routes, accounts=self.accounts)


# Strategies built once: building them inside the composite costs more than drawing.
CARRIER_ENCODINGS = st.sampled_from(ENCODINGS)
EXCLUSIONS = st.sets(st.sampled_from(EXCLUDABLE), max_size=2).map(tuple)
MILLIS = st.integers(1, 100)
PRICE_PREFIXES = st.sets(st.sampled_from(PREFIXES), min_size=4)
SCORES = st.floats(0, 1) | st.just(1.0) | st.just(0.0)
CIRCUITS = st.sampled_from(Circuit)
TOKENS = st.none() | st.integers(0, 12).map(lambda n: n / 2)  # halves: hits "== segments"


@st.composite
def worlds(draw: st.DrawFn) -> World:
    """Random carriers, prices, routes, health and one request."""
    names = draw(st.lists(st.sampled_from(NAMES), min_size=2, max_size=5, unique=True))
    carriers = tuple(
        CarrierSpec(
            n,
            "127.0.0.1",
            2775,
            n,
            "pw",
            encodings=draw(CARRIER_ENCODINGS),
            alphanumeric_sender=draw(st.booleans()),
            exclude_prefixes=draw(EXCLUSIONS),
        )
        for n in names
    )
    prices = tuple(
        Price(n, p, Decimal(draw(MILLIS)) / 1000, "EUR")
        for n in names
        for p in draw(PRICE_PREFIXES)
    )
    routes = []
    count = draw(st.integers(1, 4))
    for position in range(count):
        strategy = draw(st.sampled_from(Strategy))
        members = tuple(
            draw(st.permutations(names))[: draw(st.integers(1, len(names)) | st.just(5))]
        )
        weights = (
            tuple(draw(st.integers(0, 100)) for _ in members)
            if strategy is Strategy.WEIGHTED
            else ()
        )
        # The last route is often a catch-all, so most requests find a route.
        catch_all = position == count - 1 and draw(st.integers(0, 3)) > 0
        match = (
            Match()
            if catch_all
            else Match(
                draw(st.sampled_from(("", *PREFIXES))),
                draw(st.none() | st.sampled_from(MessageClass)),
                draw(st.none() | st.just("acme")),
            )
        )
        routes.append(Route(f"r{position}", match, strategy, members, weights, position))
    health = {
        n: CarrierHealth(
            draw(SCORES),
            draw(CIRCUITS),
            draw(st.booleans()),
            draw(TOKENS),
        )
        for n in draw(st.sets(st.sampled_from(names)))
    }
    accounts = tuple(
        AccountSpec(a, draw(EXCLUSIONS)) for a in draw(st.sets(st.sampled_from(("acme", "other"))))
    )
    request = RouteRequest(
        draw(st.text(min_size=1, max_size=12)),
        draw(st.sampled_from(PREFIXES)) + draw(st.text("0123456789", max_size=8)),
        draw(st.sampled_from(MessageClass)),
        draw(st.integers(1, 5)),
        draw(st.sampled_from(Encoding)),
        draw(st.none() | st.just("acme") | st.just("other")),
        draw(st.sampled_from(("", "ACME", "+447700900000", "12345"))),
    )
    return World(carriers, prices, tuple(routes), Snapshot.of(health), request, accounts)


def reference_price(world: World, carrier: str, number: str) -> Price | None:
    """Longest-prefix price by brute force."""
    fits = [p for p in world.prices if p.carrier == carrier and number.startswith(p.prefix)]
    return max(fits, key=lambda p: len(p.prefix), default=None)


def reference_route(world: World) -> Route | None:
    """The documented matching rule by brute force."""
    req = world.request
    fits = [r for r in world.routes if r.match.fits(req.to, req.message_class, req.account)]
    return min(
        fits,
        key=lambda r: (
            -len(r.match.prefix),
            r.match.account is None,
            r.match.message_class is None,
            r.position,
        ),
        default=None,
    )


def reference_eligible(world: World) -> set[str]:
    """Carriers of the matched route that may take the request."""
    req, chosen = world.request, reference_route(world)
    if chosen is None:
        return set()
    if any(
        a.name == req.account and any(req.to.startswith(p) for p in a.blocked_prefixes)
        for a in world.accounts
    ):
        return set()
    alphanumeric = bool(req.sender) and not req.sender.lstrip("+").isdigit()
    specs = {c.name: c for c in world.carriers}
    out = set()
    for name in chosen.carriers:
        health = world.snapshot.health(name)
        if (
            reference_price(world, name, req.to) is not None
            and not any(req.to.startswith(p) for p in specs[name].exclude_prefixes)
            and req.encoding in specs[name].encodings
            and (specs[name].alphanumeric_sender or not alphanumeric)
            and health.circuit is not Circuit.OPEN
            and health.bound
            and health.score > 0
        ):
            out.add(name)
    return out


@settings(deadline=None)
@given(worlds())
def test_route_returns_exactly_the_eligible_carriers_once_each(world: World) -> None:
    candidates = route(world.request, world.table(), world.snapshot)
    names = [c.carrier for c in candidates]
    assert len(names) == len(set(names))
    assert set(names) == reference_eligible(world)


@settings(deadline=None)
@given(worlds())
def test_route_is_deterministic_across_calls_and_recompiles(world: World) -> None:
    first = route(world.request, world.table(), world.snapshot)
    assert route(world.request, world.table(), world.snapshot) == first


@settings(deadline=None)
@given(worlds())
def test_candidates_carry_longest_prefix_price_times_segments(world: World) -> None:
    chosen = reference_route(world)
    for c in route(world.request, world.table(), world.snapshot):
        price = reference_price(world, c.carrier, world.request.to)
        assert price is not None
        assert chosen is not None
        assert c.route == chosen.name
        assert c.price_per_segment == price.per_segment
        assert c.cost == price.per_segment * world.request.segments
        assert c.score == world.snapshot.health(c.carrier).score


def group_of(world: World, carrier: str) -> int:
    """Where the engine must place a carrier: 0 usable, 1 half-open trial, 2 short of tokens."""
    health = world.snapshot.health(carrier)
    if health.capacity_left is not None and health.capacity_left < world.request.segments:
        return 2
    return 1 if health.circuit is Circuit.HALF_OPEN else 0


@settings(deadline=None)
@given(worlds())
def test_groups_come_in_order_usable_then_trials_then_over_mps_share(world: World) -> None:
    candidates = route(world.request, world.table(), world.snapshot)
    groups = [group_of(world, c.carrier) for c in candidates]
    assert groups == sorted(groups)
    for c, group in zip(candidates, groups, strict=True):
        assert (group == 2) == c.reason.startswith("over its MPS share")


@settings(deadline=None)
@given(worlds())
def test_least_cost_is_sorted_by_cost_within_each_group(world: World) -> None:
    chosen = reference_route(world)
    if chosen is None or chosen.strategy is not Strategy.LEAST_COST:
        return
    candidates = route(world.request, world.table(), world.snapshot)
    for group in (0, 1, 2):
        keys = [(c.cost, c.carrier) for c in candidates if group_of(world, c.carrier) == group]
        assert keys == sorted(keys)


@settings(deadline=None)
@given(worlds())
def test_quality_is_sorted_by_score_then_cost_within_each_group(world: World) -> None:
    chosen = reference_route(world)
    if chosen is None or chosen.strategy is not Strategy.QUALITY:
        return
    candidates = route(world.request, world.table(), world.snapshot)
    for group in (0, 1, 2):
        keys = [
            (-c.score, c.cost, c.carrier) for c in candidates if group_of(world, c.carrier) == group
        ]
        assert keys == sorted(keys)


@settings(deadline=None)
@given(worlds())
def test_explicitly_healthy_snapshot_equals_empty_snapshot(world: World) -> None:
    # The compiled fast path (nothing in the snapshot) must agree with the general path.
    table = world.table()
    explicit = Snapshot.of({c.name: CarrierHealth() for c in world.carriers})
    assert route(world.request, table, explicit) == route(world.request, table, Snapshot.empty())


@settings(deadline=None)
@given(worlds())
def test_longest_prefix_wins_for_prices_and_routes(world: World) -> None:
    table = world.table()
    for carrier in world.carriers:
        assert table.price(carrier.name, world.request.to) == reference_price(
            world, carrier.name, world.request.to
        )
    req = world.request
    assert table.match(req.to, req.message_class, req.account) == reference_route(world)


def test_weighted_split_over_100000_ids_is_within_one_point() -> None:
    weights = {"alpha": 50, "beta": 30, "gamma": 20}
    table = RoutingTable.build(
        [CarrierSpec(n, "127.0.0.1", 2775, n, "pw") for n in weights],
        [Price(n, "+44", Decimal("0.03"), "EUR") for n in weights],
        [Route("split", Match(), Strategy.WEIGHTED, tuple(weights), tuple(weights.values()))],
    )
    snapshot = Snapshot.empty()
    firsts = Counter(
        route(
            RouteRequest(f"msg-{i}", "+447700900123", MessageClass.MARKETING, 1, Encoding.GSM7),
            table,
            snapshot,
        )[0].carrier
        for i in range(100_000)
    )
    for name, weight in weights.items():
        assert abs(firsts[name] / 1000 - weight) < 1.0, (name, firsts[name])
