"""load_routes: [accounts.<name>] blocked_prefixes and carriers' exclude_prefixes, exact errors."""

from __future__ import annotations

from pathlib import Path

from messaging import MessageClass
from routing import load_routes
from tests.unit.routing.conftest import CARRIERS, DEFAULT_ROUTE, PRICES, Load, Problems, line_of

ROOT = Path(__file__).resolve().parents[3]


def with_alpha(line: str) -> str:
    """CARRIERS with `line` added to carriers.alpha."""
    return CARRIERS.replace("mps = 500\n", f"mps = 500\n{line}\n", 1)


def test_accounts_and_exclusions_are_compiled(load: Load) -> None:
    text = with_alpha('exclude_prefixes = ["+7", "+2347"]') + PRICES + DEFAULT_ROUTE
    text += '\n[accounts.acme]\nblocked_prefixes = ["+234", "+7"]\n\n[accounts.quiet]\n'
    table = load(text)
    assert table.carriers["alpha"].exclude_prefixes == ("+7", "+2347")
    assert table.carriers["beta"].exclude_prefixes == ()
    assert table.accounts["acme"].blocked_prefixes == ("+234", "+7")
    assert "quiet" not in table.accounts  # an account without rules needs no entry
    assert table.blocked_prefix("acme", "+2348031234567") == "+234"
    assert table.blocked_prefix("acme", "+447700900123") is None
    assert table.blocked_prefix(None, "+2348031234567") is None


def test_blocked_prefix_must_be_plus_and_digits(problems: Problems) -> None:
    text = (
        CARRIERS + PRICES + DEFAULT_ROUTE + '\n[accounts.acme]\nblocked_prefixes = ["+7", "234"]\n'
    )
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'blocked_prefixes')}: "
        'accounts.acme.blocked_prefixes[1]: must be "+" and up to 15 digits, like "+44"'
    ]


def test_exclude_prefix_must_be_plus_and_digits(problems: Problems) -> None:
    text = with_alpha('exclude_prefixes = ["+7a"]') + PRICES + DEFAULT_ROUTE
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'exclude_prefixes')}: "
        'carriers.alpha.exclude_prefixes[0]: must be "+" and up to 15 digits, like "+44"'
    ]


def test_unknown_key_in_an_account(problems: Problems) -> None:
    text = CARRIERS + PRICES + DEFAULT_ROUTE + '\n[accounts.acme]\nblocked = ["+7"]\n'
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'blocked =')}: accounts.acme.blocked: unknown key"
    ]


def test_prefix_listed_twice(problems: Problems) -> None:
    text = CARRIERS + PRICES + DEFAULT_ROUTE
    text += '\n[accounts.acme]\nblocked_prefixes = ["+7", "+234", "+7"]\n'
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'blocked_prefixes')}: "
        'accounts.acme.blocked_prefixes[2]: "+7" is listed twice'
    ]


def test_prefix_covered_by_a_shorter_one_can_never_matter(problems: Problems) -> None:
    text = with_alpha('exclude_prefixes = ["+79", "+7"]') + PRICES + DEFAULT_ROUTE
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'exclude_prefixes')}: "
        'carriers.alpha.exclude_prefixes[0]: "+79" is already covered by "+7"'
    ]


def test_a_carrier_needs_no_price_where_it_does_not_serve(load: Load) -> None:
    # alpha has no +49 price: without its exclusion this route would be an error.
    route = DEFAULT_ROUTE.replace("strategy", 'match = { prefix = "+49" }\nstrategy')
    text = with_alpha('exclude_prefixes = ["+49"]') + PRICES.replace(
        '"+33" = 0.045', '"+49" = 0.05'
    )
    table = load(text + route)
    plan = table.plan("+4930123", MessageClass.MARKETING)
    assert plan is not None
    assert plan.unserved == ("alpha",)


def test_route_that_no_carrier_serves(problems: Problems) -> None:
    route = DEFAULT_ROUTE.replace("strategy", 'match = { prefix = "+447" }\nstrategy')
    text = with_alpha('exclude_prefixes = ["+44"]')
    text = text.replace(
        'password = "betapw"\n', 'password = "betapw"\nexclude_prefixes = ["+447"]\n'
    )
    text += PRICES + route
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'carriers = [')}: routes[0].carriers: "
        'no carrier serves "+447": each lists it in its exclude_prefixes'
    ]


def test_shipped_file_has_an_unserved_destination_and_a_blocked_account() -> None:
    table = load_routes(ROOT / "config" / "routes.toml")
    assert table.carriers["beta"].exclude_prefixes == ("+7",)
    assert table.blocked_prefix("trial", "+2348031234567") == "+234"
    assert table.blocked_prefix("trial", "+447700900123") is None
