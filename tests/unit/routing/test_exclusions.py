"""Account blocks, destinations a carrier does not serve, and carriers over their MPS share."""

from __future__ import annotations

import pytest

from messaging import Encoding, MessageClass, NoRoute
from routing import (
    AccountSpec,
    CarrierHealth,
    Circuit,
    Excluded,
    Exclusion,
    Match,
    Route,
    RoutingTable,
    Snapshot,
    Strategy,
    explain,
    route,
)
from tests.unit.routing.test_engine import ALL, HEALTHY, carriers_of, make_table, request, spec

OTP = MessageClass.OTP
DEFAULT = Route("default", Match(), Strategy.LEAST_COST, ALL)


def blocking(*accounts: AccountSpec, route_: Route = DEFAULT) -> RoutingTable:
    """The test table with these account rules."""
    base = make_table(route_)
    return RoutingTable(
        base.carriers, base.price_lists, base.routes, "EUR", {a.name: a for a in accounts}
    )


# --- accounts.<name>.blocked_prefixes -------------------------------------------------------


def test_blocked_account_gets_no_candidates_for_a_blocked_prefix() -> None:
    table = blocking(AccountSpec("acme", ("+7", "+44")))
    assert route(request("+447700900123", account="acme"), table, HEALTHY) == []


def test_block_applies_only_to_that_account_and_those_prefixes() -> None:
    table = blocking(AccountSpec("acme", ("+447",)))
    assert carriers_of(route(request("+447700900123", account="other"), table, HEALTHY)) == [
        "alpha",
        "beta",
        "gamma",
    ]
    assert carriers_of(route(request("+447700900123"), table, HEALTHY)) == [
        "alpha",
        "beta",
        "gamma",
    ]
    # +4420 is under +44 but not under the blocked +447.
    assert carriers_of(route(request("+442079460000", account="acme"), table, HEALTHY)) == [
        "alpha",
        "beta",
        "gamma",
    ]


def test_block_holds_even_when_a_route_names_the_account() -> None:
    own = Route("acme-uk", Match("+44", None, "acme"), Strategy.PRIORITY, ("beta",))
    base = make_table(own, DEFAULT)
    table = RoutingTable(
        base.carriers, base.price_lists, base.routes, "EUR", {"acme": AccountSpec("acme", ("+44",))}
    )
    assert route(request("+447700900123", account="acme"), table, HEALTHY) == []


def test_explain_shows_account_blocked_for_every_carrier() -> None:
    table = blocking(AccountSpec("acme", ("+44",)))
    decision = explain(request("+447700900123", account="acme"), table, HEALTHY)
    detail = 'account "acme" may not send to +44 (accounts.acme.blocked_prefixes)'
    assert decision.route_name == "default"
    assert decision.candidates == ()
    assert decision.excluded == tuple(
        Excluded(name, Exclusion.ACCOUNT_BLOCKED, detail) for name in ALL
    )
    assert str(Exclusion.ACCOUNT_BLOCKED) == "account blocked"


def test_no_route_error_of_a_blocked_account_says_so_once() -> None:
    table = blocking(AccountSpec("acme", ("+44",)))
    error = explain(request("+447700900123", account="acme"), table, HEALTHY).no_route()
    assert isinstance(error, NoRoute)
    assert error.reasons == ('account "acme" may not send to +44 (accounts.acme.blocked_prefixes)',)


# --- carriers.<name>.exclude_prefixes -------------------------------------------------------


def unserving(**excluded: tuple[str, ...]) -> RoutingTable:
    """The test table where carriers do not serve the given prefixes."""
    specs = tuple(spec(n, exclude_prefixes=excluded.get(n, ())) for n in ALL)
    return make_table(DEFAULT, specs=specs)


def test_carrier_that_does_not_serve_a_prefix_is_left_out_there_only() -> None:
    table = unserving(alpha=("+447",))
    assert carriers_of(route(request("+447700900123"), table, HEALTHY)) == ["beta", "gamma"]
    assert carriers_of(route(request("+442079460000"), table, HEALTHY)) == [
        "alpha",
        "beta",
        "gamma",
    ]


def test_explain_says_destination_not_served_with_the_prefix() -> None:
    table = unserving(alpha=("+447",))
    decision = explain(request("+447700900123"), table, HEALTHY)
    assert (
        Excluded(
            "alpha", Exclusion.NOT_SERVED, "does not serve +447 (carriers.alpha.exclude_prefixes)"
        )
        in decision.excluded
    )
    assert str(Exclusion.NOT_SERVED) == "destination not served"


def test_not_served_is_the_reason_even_without_a_price() -> None:
    # beta has no +33 price; it also does not serve +33: the operator reads the latter.
    table = unserving(beta=("+33",))
    decision = explain(request("+33123456"), table, HEALTHY)
    beta = [e for e in decision.excluded if e.carrier == "beta"]
    assert [e.reason for e in beta] == [Exclusion.NOT_SERVED]


def test_exclusion_longer_than_every_price_prefix_still_applies() -> None:
    # +44770 is not a price prefix: the index must still split numbers under it.
    table = unserving(beta=("+44770",))
    assert carriers_of(route(request("+447700900123"), table, HEALTHY)) == ["alpha", "gamma"]
    assert carriers_of(route(request("+447800900123"), table, HEALTHY)) == [
        "alpha",
        "beta",
        "gamma",
    ]


# --- capacity_left: over its MPS share --------------------------------------------------------


def tokens(**left: float) -> Snapshot:
    """A snapshot where carriers have these many tokens left in their MPS bucket."""
    return Snapshot.of({name: CarrierHealth(capacity_left=n) for name, n in left.items()})


def test_carrier_with_fewer_tokens_than_segments_is_tried_last() -> None:
    table = make_table(DEFAULT)
    candidates = route(request("+447700900123", segments=2), table, tokens(alpha=1.5))
    assert carriers_of(candidates) == ["beta", "gamma", "alpha"]
    assert candidates[-1].reason == "over its MPS share"
    assert [c.reason for c in candidates[:2]] == ["least cost", "least cost"]


@pytest.mark.parametrize(("left", "segments"), [(1.0, 1), (2.0, 2), (50.0, 3)])
def test_carrier_with_enough_tokens_keeps_its_place(left: float, segments: int) -> None:
    table = make_table(DEFAULT)
    candidates = route(request(segments=segments), table, tokens(alpha=left))
    assert carriers_of(candidates) == ["alpha", "beta", "gamma"]
    assert candidates[0].reason == "least cost"


def test_unknown_capacity_is_not_demoted() -> None:
    table = make_table(DEFAULT)
    snapshot = Snapshot.of({"alpha": CarrierHealth(capacity_left=None)})
    assert carriers_of(route(request(), table, snapshot)) == ["alpha", "beta", "gamma"]


def test_demoted_carriers_keep_the_strategy_order_among_themselves() -> None:
    table = make_table(Route("p", Match(), Strategy.PRIORITY, ("gamma", "beta", "alpha")))
    candidates = route(request(), table, tokens(gamma=0.0, beta=0.2))
    assert carriers_of(candidates) == ["alpha", "gamma", "beta"]


def test_demoted_go_after_half_open_trials_and_say_both() -> None:
    table = make_table(DEFAULT)
    snapshot = Snapshot.of(
        {
            "alpha": CarrierHealth(capacity_left=0.0),
            "beta": CarrierHealth(circuit=Circuit.HALF_OPEN),
            "gamma": CarrierHealth(circuit=Circuit.HALF_OPEN, capacity_left=0.0),
        }
    )
    candidates = route(request(), table, snapshot)
    assert [(c.carrier, c.reason) for c in candidates] == [
        ("beta", "half-open circuit, trial only"),
        ("alpha", "over its MPS share"),
        ("gamma", "over its MPS share; half-open circuit, trial only"),
    ]


def test_open_circuit_is_left_out_whatever_its_tokens() -> None:
    table = make_table(DEFAULT)
    snapshot = Snapshot.of({"alpha": CarrierHealth(circuit=Circuit.OPEN, capacity_left=0.0)})
    assert carriers_of(route(request(), table, snapshot)) == ["beta", "gamma"]


def test_weighted_pick_is_drawn_among_carriers_with_tokens() -> None:
    split = Route("split", Match(), Strategy.WEIGHTED, ("alpha", "beta"), (99, 1))
    table = make_table(split)
    firsts = {
        route(request(message_id=f"m{i}"), table, tokens(alpha=0.0))[0].carrier for i in range(50)
    }
    assert firsts == {"beta"}


def test_explain_lists_the_demoted_with_their_tokens() -> None:
    table = make_table(DEFAULT)
    decision = explain(request(segments=3), table, tokens(alpha=0.5, beta=3.0))
    assert carriers_of(decision.candidates) == ["beta", "gamma", "alpha"]
    assert decision.demoted == (
        Excluded(
            "alpha",
            Exclusion.OVER_MPS_SHARE,
            "0.5 token(s) left in its MPS bucket for 3 segment(s): tried last",
        ),
    )
    assert all(e.carrier != "alpha" for e in decision.excluded)


def test_negative_capacity_is_rejected() -> None:
    with pytest.raises(ValueError, match="capacity_left must be >= 0"):
        CarrierHealth(capacity_left=-1.0)


def test_ucs2_lane_is_compiled_apart_from_gsm7() -> None:
    specs = (spec("alpha", encodings=frozenset({Encoding.GSM7})), spec("beta"), spec("gamma"))
    table = make_table(DEFAULT, specs=specs)
    assert carriers_of(route(request(encoding=Encoding.UCS2), table, HEALTHY)) == ["beta", "gamma"]
    assert carriers_of(route(request(), table, HEALTHY)) == ["alpha", "beta", "gamma"]
