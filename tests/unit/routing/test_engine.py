"""route() and explain(): strategies, exclusions with reasons, route matching, costs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from messaging import Encoding, MessageClass, NoRoute
from routing import (
    CarrierHealth,
    CarrierSpec,
    Circuit,
    Exclusion,
    Match,
    Price,
    Route,
    RouteRequest,
    RoutingTable,
    Snapshot,
    Strategy,
    explain,
    route,
)

OTP, MARKETING = MessageClass.OTP, MessageClass.MARKETING
HEALTHY = Snapshot.empty()


def spec(name: str, **overrides: object) -> CarrierSpec:
    """A carrier spec with test defaults."""
    return CarrierSpec(name, "127.0.0.1", 2775, name, "pw", **overrides)  # type: ignore[arg-type]


def make_table(*routes: Route, specs: tuple[CarrierSpec, ...] = ()) -> RoutingTable:
    """alpha/beta/gamma priced for +44 (alpha cheapest) and +33 (gamma cheapest)."""
    prices = [
        Price("alpha", "+44", Decimal("0.030"), "EUR"),
        Price("beta", "+44", Decimal("0.034"), "EUR"),
        Price("gamma", "+44", Decimal("0.040"), "EUR"),
        Price("alpha", "+447", Decimal("0.028"), "EUR"),
        Price("alpha", "+33", Decimal("0.060"), "EUR"),
        Price("gamma", "+33", Decimal("0.020"), "EUR"),
    ]
    carriers = specs or (spec("alpha"), spec("beta"), spec("gamma"))
    return RoutingTable.build(carriers, prices, routes)


def request(
    to: str = "+447700900123",
    message_class: MessageClass = MARKETING,
    *,
    segments: int = 1,
    encoding: Encoding = Encoding.GSM7,
    account: str | None = None,
    sender: str = "",
    message_id: str = "m-1",
) -> RouteRequest:
    """A request with test defaults."""
    return RouteRequest(message_id, to, message_class, segments, encoding, account, sender)


ALL = ("alpha", "beta", "gamma")


def carriers_of(candidates: object) -> list[str]:
    """Carrier names of a candidate list, in order."""
    return [c.carrier for c in candidates]  # type: ignore[attr-defined]


def test_least_cost_orders_cheapest_first_by_longest_prefix_price() -> None:
    table = make_table(Route("default", Match(), Strategy.LEAST_COST, ALL))
    candidates = route(request("+447700900123"), table, HEALTHY)
    assert carriers_of(candidates) == ["alpha", "beta", "gamma"]
    assert candidates[0].price_per_segment == Decimal("0.028")  # +447 beats +44
    assert candidates[0].reason == "least cost"


def test_least_cost_ties_break_by_carrier_name() -> None:
    prices = [Price(n, "+44", Decimal("0.03"), "EUR") for n in ("zulu", "alpha", "mike")]
    table = RoutingTable.build(
        [spec("zulu"), spec("alpha"), spec("mike")],
        prices,
        [Route("r", Match(), Strategy.LEAST_COST, ("zulu", "mike", "alpha"))],
    )
    assert carriers_of(route(request(), table, HEALTHY)) == ["alpha", "mike", "zulu"]


def test_cost_is_price_times_segments() -> None:
    table = make_table(Route("default", Match(), Strategy.LEAST_COST, ALL))
    first = route(request("+4420", segments=3), table, HEALTHY)[0]
    assert (first.carrier, first.price_per_segment, first.cost) == (
        "alpha",
        Decimal("0.030"),
        Decimal("0.090"),
    )
    assert first.currency == "EUR"


def test_quality_puts_best_score_first_then_cost() -> None:
    table = make_table(Route("otp", Match(), Strategy.QUALITY, ALL))
    snapshot = Snapshot.of({"alpha": CarrierHealth(0.6), "gamma": CarrierHealth(0.9)})
    candidates = route(request("+4420", OTP), table, snapshot)
    assert carriers_of(candidates) == ["beta", "gamma", "alpha"]
    assert [c.score for c in candidates] == [1.0, 0.9, 0.6]


def test_quality_at_equal_scores_is_least_cost() -> None:
    table = make_table(Route("otp", Match(), Strategy.QUALITY, ALL))
    assert carriers_of(route(request("+331"), table, HEALTHY)) == ["gamma", "alpha"]


def test_priority_keeps_listed_order_even_when_dearer() -> None:
    table = make_table(Route("p", Match(), Strategy.PRIORITY, ("gamma", "beta", "alpha")))
    candidates = route(request("+4420"), table, HEALTHY)
    assert carriers_of(candidates) == ["gamma", "beta", "alpha"]
    assert [c.reason for c in candidates] == ["priority 1", "priority 2", "priority 3"]


def test_weighted_pick_is_stable_for_a_message_id_and_rest_follow_by_cost() -> None:
    table = make_table(
        Route("split", Match(), Strategy.WEIGHTED, ("gamma", "beta", "alpha"), (50, 30, 20))
    )
    picks = {route(request(message_id=f"id-{i}"), table, HEALTHY)[0].carrier for i in range(200)}
    assert picks == {"alpha", "beta", "gamma"}
    for i in range(50):
        first = route(request(message_id=f"id-{i}"), table, HEALTHY)
        again = route(request(message_id=f"id-{i}"), table, HEALTHY)
        assert first == again
        rest = first[1:]
        assert [c.price_per_segment for c in rest] == sorted(c.price_per_segment for c in rest)
        assert first[0].reason.startswith("weighted pick (weight ")


def test_weighted_skips_zero_weight_carriers_for_the_pick() -> None:
    table = make_table(Route("split", Match(), Strategy.WEIGHTED, ("alpha", "beta"), (0, 100)))
    for i in range(100):
        assert carriers_of(route(request(message_id=str(i)), table, HEALTHY)) == ["beta", "alpha"]


def test_weighted_share_of_an_excluded_carrier_moves_to_the_others() -> None:
    table = make_table(Route("split", Match(), Strategy.WEIGHTED, ("alpha", "beta"), (90, 10)))
    snapshot = Snapshot.of({"alpha": CarrierHealth(circuit=Circuit.OPEN)})
    for i in range(100):
        assert carriers_of(route(request(message_id=str(i)), table, snapshot)) == ["beta"]


@pytest.mark.parametrize(
    ("health", "reason", "detail"),
    [
        (
            CarrierHealth(circuit=Circuit.OPEN),
            Exclusion.CIRCUIT_OPEN,
            "circuit breaker open: failing recently",
        ),
        (CarrierHealth(bound=False), Exclusion.UNHEALTHY, "no bound session"),
        (CarrierHealth(score=0.0), Exclusion.UNHEALTHY, "health score 0"),
    ],
)
def test_unhealthy_carrier_is_left_out_with_its_reason(
    health: CarrierHealth, reason: Exclusion, detail: str
) -> None:
    table = make_table(Route("default", Match(), Strategy.LEAST_COST, ALL))
    snapshot = Snapshot.of({"alpha": health})
    decision = explain(request("+4420"), table, snapshot)
    assert carriers_of(decision.candidates) == ["beta", "gamma"]
    [excluded] = decision.excluded
    assert (excluded.carrier, excluded.reason, excluded.detail) == ("alpha", reason, detail)


def test_carrier_without_price_for_the_prefix_is_left_out() -> None:
    table = make_table(Route("default", Match(), Strategy.LEAST_COST, ALL))
    decision = explain(request("+33123"), table, HEALTHY)
    assert carriers_of(decision.candidates) == ["gamma", "alpha"]
    assert [(e.carrier, e.reason, e.detail) for e in decision.excluded] == [
        ("beta", Exclusion.NO_PRICE, "no price for +33123 in prices.beta")
    ]


def test_carrier_without_the_encoding_is_left_out() -> None:
    specs = (spec("alpha", encodings=frozenset({Encoding.GSM7})), spec("beta"), spec("gamma"))
    table = make_table(Route("default", Match(), Strategy.LEAST_COST, ALL), specs=specs)
    decision = explain(request("+4420", encoding=Encoding.UCS2), table, HEALTHY)
    assert carriers_of(decision.candidates) == ["beta", "gamma"]
    assert [(e.carrier, e.reason) for e in decision.excluded] == [("alpha", Exclusion.ENCODING)]
    assert carriers_of(route(request("+4420"), table, HEALTHY))[0] == "alpha"  # GSM-7 is fine


def test_alphanumeric_sender_needs_a_carrier_that_allows_it() -> None:
    specs = (spec("alpha", alphanumeric_sender=False), spec("beta"), spec("gamma"))
    table = make_table(Route("default", Match(), Strategy.LEAST_COST, ALL), specs=specs)
    named = explain(request("+4420", sender="ACME"), table, HEALTHY)
    assert carriers_of(named.candidates) == ["beta", "gamma"]
    assert [(e.carrier, e.reason) for e in named.excluded] == [("alpha", Exclusion.SENDER)]
    numeric = route(request("+4420", sender="+447700900000"), table, HEALTHY)
    assert carriers_of(numeric) == ["alpha", "beta", "gamma"]


def test_carriers_outside_the_route_are_explained() -> None:
    table = make_table(Route("uk", Match(), Strategy.LEAST_COST, ("beta",)))
    decision = explain(request("+4420"), table, HEALTHY)
    assert decision.route_name == "uk"
    assert [(e.carrier, e.reason, e.detail) for e in decision.excluded] == [
        ("alpha", Exclusion.NOT_IN_ROUTE, 'not in route "uk"'),
        ("gamma", Exclusion.NOT_IN_ROUTE, 'not in route "uk"'),
    ]


def test_half_open_carrier_goes_last_as_a_trial() -> None:
    table = make_table(Route("default", Match(), Strategy.LEAST_COST, ALL))
    snapshot = Snapshot.of({"alpha": CarrierHealth(0.5, Circuit.HALF_OPEN)})
    candidates = route(request("+4420"), table, snapshot)
    assert carriers_of(candidates) == ["beta", "gamma", "alpha"]
    assert candidates[-1].reason == "half-open circuit, trial only"
    assert candidates[-1].score == 0.5


def test_half_open_only_carrier_is_still_tried() -> None:
    table = make_table(Route("uk", Match(), Strategy.QUALITY, ("alpha",)))
    snapshot = Snapshot.of({"alpha": CarrierHealth(circuit=Circuit.HALF_OPEN)})
    assert carriers_of(route(request("+4420"), table, snapshot)) == ["alpha"]


def test_longer_prefix_route_beats_class_route() -> None:
    table = make_table(
        Route("otp", Match("", OTP), Strategy.QUALITY, ALL, position=0),
        Route("uk", Match("+44"), Strategy.PRIORITY, ("beta",), position=1),
    )
    assert table.match("+4420", OTP) is table.routes[1]
    assert route(request("+4420", OTP), table, HEALTHY)[0].route == "uk"
    assert route(request("+331", OTP), table, HEALTHY)[0].route == "otp"


def test_at_equal_prefix_account_beats_class_and_class_beats_catch_all() -> None:
    table = make_table(
        Route("any", Match("+44"), Strategy.LEAST_COST, ALL, position=0),
        Route("otp", Match("+44", OTP), Strategy.LEAST_COST, ALL, position=1),
        Route("acme", Match("+44", None, "acme"), Strategy.LEAST_COST, ALL, position=2),
    )
    assert table.match("+4420", OTP, "acme") is table.routes[2]
    assert table.match("+4420", OTP, "other") is table.routes[1]
    assert table.match("+4420", MARKETING, None) is table.routes[0]


def test_no_matching_route_gives_no_candidates_and_a_no_route_error() -> None:
    table = make_table(Route("uk", Match("+44"), Strategy.LEAST_COST, ALL))
    assert route(request("+331"), table, HEALTHY) == []
    decision = explain(request("+331"), table, HEALTHY)
    assert decision.route_name is None
    assert {e.reason for e in decision.excluded} == {Exclusion.NOT_IN_ROUTE}
    error = decision.no_route()
    assert isinstance(error, NoRoute)
    assert error.reasons == ("no route matches this number, class and account",)


def test_no_route_error_lists_every_carrier_left_out() -> None:
    table = make_table(Route("uk", Match(), Strategy.LEAST_COST, ("alpha", "beta")))
    snapshot = Snapshot.of({"alpha": CarrierHealth(circuit=Circuit.OPEN)})
    decision = explain(request("+331"), table, snapshot)
    assert decision.candidates == ()
    assert decision.no_route().reasons == (
        "alpha: circuit breaker open: failing recently",
        "beta: no price for +331 in prices.beta",
    )


def test_explain_candidates_equal_route() -> None:
    table = make_table(Route("split", Match(), Strategy.WEIGHTED, ALL, (20, 30, 50)))
    snapshot = Snapshot.of({"beta": CarrierHealth(0.3)})
    for i in range(20):
        req = request(message_id=f"x{i}", segments=2)
        assert list(explain(req, table, snapshot).candidates) == route(req, table, snapshot)


def test_snapshot_empty_is_everything_healthy() -> None:
    health = Snapshot.empty().health("anything")
    assert (health.score, health.circuit, health.bound) == (1.0, Circuit.CLOSED, True)


@pytest.mark.parametrize("score", [-0.1, 1.5])
def test_health_score_outside_unit_interval_is_rejected(score: float) -> None:
    with pytest.raises(ValueError, match="score must be in"):
        CarrierHealth(score)


def test_table_is_immutable() -> None:
    table = make_table(Route("default", Match(), Strategy.LEAST_COST, ALL))
    with pytest.raises(AttributeError):
        table.currency = "USD"
    with pytest.raises(TypeError):
        table.carriers["delta"] = spec("delta")  # type: ignore[index]
    with pytest.raises(AttributeError):
        table.routes[0].name = "x"  # type: ignore[misc]


def test_price_uses_the_longest_prefix_and_none_when_unpriced() -> None:
    table = make_table(Route("default", Match(), Strategy.LEAST_COST, ALL))
    mobile, fixed = table.price("alpha", "+447700900123"), table.price("alpha", "+442071")
    assert mobile is not None
    assert fixed is not None
    assert (mobile.prefix, mobile.per_segment) == ("+447", Decimal("0.028"))
    assert (fixed.prefix, fixed.per_segment) == ("+44", Decimal("0.030"))
    assert table.price("beta", "+331") is None
    assert table.price("nobody", "+4420") is None


def test_snapshot_keeps_a_read_only_copy() -> None:
    given = {"alpha": CarrierHealth(circuit=Circuit.OPEN)}
    snapshot = Snapshot(given)
    given["alpha"] = CarrierHealth()
    assert snapshot.health("alpha").circuit is Circuit.OPEN
    with pytest.raises(TypeError):
        snapshot.carriers["beta"] = CarrierHealth()  # type: ignore[index]
