"""`[replies]` and `[accounts.<name>] inbound_url` in the routes file."""

from __future__ import annotations

from tests.unit.routing.conftest import CARRIERS, DEFAULT_ROUTE, PRICES, Load, Problems, line_of

NUMBERS = '\n[numbers]\n"+447700900000" = "acme"\n'


def test_replies_and_inbound_urls_are_compiled_into_the_table(load: Load) -> None:
    text = (
        CARRIERS
        + PRICES
        + DEFAULT_ROUTE
        + NUMBERS
        + '\n[accounts.acme]\ninbound_url = "https://acme.example/mo"\n'
        + '\n[replies]\nhelp = "Help!"\nevery_minutes = 5\n'
        + '\n[replies.accounts.acme]\nstop = "Bye"\n'
        + '\n[replies.numbers."+447700900000"]\nauto = ""\n'
    )
    inbound = load(text).inbound

    assert inbound.urls == {"acme": "https://acme.example/mo"}
    assert inbound.replies == {"help": "Help!"}
    assert inbound.account_replies == {"acme": {"stop": "Bye"}}
    assert inbound.number_replies == {"447700900000": {"auto": ""}}
    assert inbound.reply_every_minutes == 5


def test_bad_inbound_urls_and_replies_are_located_by_file_line_and_key(
    problems: Problems,
) -> None:
    accounts = (
        '\n[accounts.acme]\ninbound_url = "ftp://acme.example/mo"\n'
        '\n[accounts.b]\ninbound_url = "https://user:pw@b.example/mo"\n'
    )
    replies = (
        '\n[replies]\nevery_minutes = 0\nhelp = "' + "x" * 481 + '"\n'
        '\n[replies.numbers."+15550001111"]\nhelp = "hi"\n'
        '\n[replies.accounts.acme]\nsorry = "?"\n'
    )
    text = CARRIERS + PRICES + DEFAULT_ROUTE + NUMBERS + accounts + replies

    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'x' * 481)}: replies.help: "
        "String should have at most 480 characters",
        f"config/routes.toml:{line_of(text, 'every_minutes')}: replies.every_minutes: "
        "must be > 0.0",
        f"config/routes.toml:{line_of(text, 'sorry')}: replies.accounts.acme.sorry: unknown key",
    ]
    fixed = text.replace("every_minutes = 0", "every_minutes = 1").replace("x" * 481, "x")
    fixed = fixed.replace('sorry = "?"', 'auto = "?"')
    assert problems(fixed) == [
        f"config/routes.toml:{line_of(fixed, 'ftp://')}: accounts.acme.inbound_url: "
        "must be an http(s) URL",
        f"config/routes.toml:{line_of(fixed, 'user:pw')}: accounts.b.inbound_url: "
        "must not carry credentials (user@host)",
        f"config/routes.toml:{line_of(fixed, '+15550001111')}: replies.numbers.+15550001111: "
        "not one of [numbers] (no account owns it)",
    ]
