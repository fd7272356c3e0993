"""`[numbers]` in the routes file: which account owns a number or short code."""

from __future__ import annotations

from tests.unit.routing.conftest import CARRIERS, DEFAULT_ROUTE, PRICES, Load, Problems, line_of


def test_numbers_name_their_owning_account(load: Load) -> None:
    text = (
        CARRIERS + PRICES + DEFAULT_ROUTE + '\n[numbers]\n"+447700900000" = "acme"\n"12345" = "b"\n'
    )
    table = load(text)

    assert table.owner_of("447700900000") == "acme"
    assert table.owner_of("+447700900000") == "acme"
    assert table.owner_of("12345") == "b"
    assert table.owner_of("99999") is None


def test_bad_numbers_are_located_by_file_line_and_key(problems: Problems) -> None:
    numbers = '\n[numbers]\n"07" = "acme"\n"+447700900000" = ""\n"447700900000" = "x"\n'
    text = CARRIERS + PRICES + DEFAULT_ROUTE + numbers

    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'acme')}: numbers.07: must be an E.164 number "
        '("+447700900000") or a short code',
        f"config/routes.toml:{line_of(text, '+447700900000')}: numbers.+447700900000: "
        "must name an account",
        f"config/routes.toml:{line_of(text, '447700900000', 2)}: numbers.447700900000: "
        'must be an E.164 number ("+447700900000") or a short code',
    ]
