"""`[keywords]` in the routes file: localised MO keywords, located errors."""

from __future__ import annotations

from tests.unit.routing.conftest import CARRIERS, DEFAULT_ROUTE, PRICES, Load, Problems, line_of


def test_localised_keywords_are_loaded_by_action(load: Load) -> None:
    text = (
        CARRIERS
        + PRICES
        + DEFAULT_ROUTE
        + '\n[keywords]\nopt_out = ["ARRET", "ABMELDEN", "BAJA"]\nhelp = ["AIDE"]\n'
    )
    table = load(text)
    assert table.keywords == {
        "opt_out": ("ARRET", "ABMELDEN", "BAJA"),
        "opt_in": (),
        "help": ("AIDE",),
    }


def test_bad_keywords_are_located_by_file_line_and_key(problems: Problems) -> None:
    keywords = '\n[keywords]\nopt_out = ["ARRET", "two words"]\nopt_in = ["arret"]\n'
    text = CARRIERS + PRICES + DEFAULT_ROUTE + keywords

    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'two words')}: keywords.opt_out[1]: "
        "'two words': one word of letters or digits",
        f"config/routes.toml:{line_of(text, 'opt_in')}: keywords.opt_in[0]: "
        '"arret" is already in opt_out',
    ]
