"""Least-cost spill: which candidate takes a message now, and the routes file's `spill` switch."""

from __future__ import annotations

import pytest

from messaging import MessageClass
from routing import Match, Route, Strategy, take_now
from tests.unit.routing.conftest import (
    CARRIERS,
    DEFAULT_ROUTE,
    PRICES,
    Load,
    Problems,
    line_of,
)


class Buckets:
    """Tokens per carrier now, recording which carriers were asked."""

    def __init__(self, **tokens: int) -> None:
        self.tokens = tokens
        self.asked: list[str] = []

    def has_token(self, carrier: str) -> bool:
        self.asked.append(carrier)
        return self.tokens.get(carrier, 0) > 0


def test_a_message_the_cheapest_carrier_has_no_token_for_goes_to_the_next_with_one() -> None:
    buckets = Buckets(alpha=0, beta=1, gamma=1)
    assert take_now(["alpha", "beta", "gamma"], True, buckets.has_token) == 1
    assert buckets.asked == ["alpha", "beta"]  # the first with a token wins: gamma not asked


def test_the_cheapest_carrier_with_a_token_takes_it_and_no_other_is_asked() -> None:
    buckets = Buckets(alpha=1, beta=1)
    assert take_now(["alpha", "beta"], True, buckets.has_token) == 0
    assert buckets.asked == ["alpha"]


def test_with_the_switch_off_a_message_waits_for_its_carrier() -> None:
    buckets = Buckets(alpha=0, beta=5)
    assert take_now(["alpha", "beta"], False, buckets.has_token) is None
    assert buckets.asked == ["alpha"]  # the others' buckets are not even asked


def test_a_message_no_candidate_has_a_token_for_waits() -> None:
    buckets = Buckets(alpha=0, beta=0)
    assert take_now(["alpha", "beta"], True, buckets.has_token) is None
    assert buckets.asked == ["alpha", "beta"]
    assert take_now([], True, buckets.has_token) is None


@pytest.mark.parametrize(
    ("spill", "message_class", "spills"),
    [
        (None, MessageClass.MARKETING, True),
        (None, MessageClass.OTP, False),
        (None, MessageClass.TRANSACTIONAL, False),
        (False, MessageClass.MARKETING, False),
        (True, MessageClass.OTP, True),
    ],
)
def test_by_default_marketing_spills_and_the_route_can_say_otherwise(
    spill: bool | None, message_class: MessageClass, spills: bool
) -> None:
    route = Route("r", Match(), Strategy.LEAST_COST, ("alpha", "beta"), spill=spill)
    assert route.spills(message_class) is spills


def test_the_routes_file_sets_spill_per_route(load: Load) -> None:
    off = DEFAULT_ROUTE.replace(
        'strategy = "least_cost"\n', 'strategy = "least_cost"\nspill = false\n'
    )
    table = load(CARRIERS + PRICES + off)
    assert table.routes[0].spill is False
    assert not table.routes[0].spills(MessageClass.MARKETING)
    assert load(CARRIERS + PRICES + DEFAULT_ROUTE).routes[0].spill is None
    route = table.route_named("default")
    assert route is not None and route is table.routes[0]
    assert table.route_named("nope") is None


@pytest.mark.parametrize("value", ['"yes"', "1", '"true"'])
def test_a_spill_that_is_not_true_or_false_is_located(problems: Problems, value: str) -> None:
    line = f"spill = {value}"
    route = DEFAULT_ROUTE.replace('strategy = "least_cost"\n', f'strategy = "least_cost"\n{line}\n')
    text = CARRIERS + PRICES + route
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, line)}: routes[0].spill: must be true or false"
    ]
