"""Properties of the engine over generated tables, snapshots and requests (hypothesis)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from messaging import Encoding, MessageClass
from routing import (
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

    def table(self) -> RoutingTable:
        """Compile the table from its parts."""
        return RoutingTable.build(self.carriers, self.prices, self.routes)


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
            encodings=draw(st.sampled_from(ENCODINGS)),
            alphanumeric_sender=draw(st.booleans()),
        )
        for n in names
    )
    prices = tuple(
        Price(n, p, Decimal(draw(st.integers(1, 100))) / 1000, "EUR")
        for n in names
        for p in draw(st.sets(st.sampled_from(PREFIXES), min_size=4))
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
            draw(st.floats(0, 1) | st.just(1.0) | st.just(0.0)),
            draw(st.sampled_from(Circuit)),
            draw(st.booleans()),
        )
        for n in draw(st.sets(st.sampled_from(names)))
    }
    request = RouteRequest(
        draw(st.text(min_size=1, max_size=12)),
        draw(st.sampled_from(PREFIXES)) + draw(st.from_regex(r"[0-9]{0,8}", fullmatch=True)),
        draw(st.sampled_from(MessageClass)),
        draw(st.integers(1, 5)),
        draw(st.sampled_from(Encoding)),
        draw(st.none() | st.just("acme") | st.just("other")),
        draw(st.sampled_from(("", "ACME", "+447700900000", "12345"))),
    )
    return World(carriers, prices, tuple(routes), Snapshot.of(health), request)


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
    alphanumeric = bool(req.sender) and not req.sender.lstrip("+").isdigit()
    specs = {c.name: c for c in world.carriers}
    out = set()
    for name in chosen.carriers:
        health = world.snapshot.health(name)
        if (
            reference_price(world, name, req.to) is not None
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


@settings(deadline=None)
@given(worlds())
def test_least_cost_is_sorted_by_cost_with_trials_last(world: World) -> None:
    chosen = reference_route(world)
    if chosen is None or chosen.strategy is not Strategy.LEAST_COST:
        return
    candidates = route(world.request, world.table(), world.snapshot)
    trial = [world.snapshot.health(c.carrier).circuit is Circuit.HALF_OPEN for c in candidates]
    assert trial == sorted(trial)  # healthy ones first, then half-open trials
    for group in (False, True):
        keys = [(c.cost, c.carrier) for c, t in zip(candidates, trial, strict=True) if t is group]
        assert keys == sorted(keys)


@settings(deadline=None)
@given(worlds())
def test_quality_is_sorted_by_score_then_cost(world: World) -> None:
    chosen = reference_route(world)
    if chosen is None or chosen.strategy is not Strategy.QUALITY:
        return
    candidates = route(world.request, world.table(), world.snapshot)
    healthy = [
        c for c in candidates if world.snapshot.health(c.carrier).circuit is not Circuit.HALF_OPEN
    ]
    keys = [(-c.score, c.cost, c.carrier) for c in healthy]
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
