"""load_routes: the shipped file loads; every mistake is reported with file, line and key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from messaging import ConfigError, Encoding, MessageClass
from routing import BindMode, CarrierPacing, SegmentReceipts, Strategy, load_routes
from tests.unit.routing.conftest import (
    CARRIERS,
    DEFAULT_ROUTE,
    PRICES,
    Load,
    Problems,
    line_of,
)

ROOT = Path(__file__).resolve().parents[3]


def test_shipped_routes_file_loads_with_simulator_carriers() -> None:
    table = load_routes(ROOT / "config" / "routes.toml")
    alpha, beta = table.carriers["alpha"], table.carriers["beta"]
    assert (alpha.host, alpha.port, alpha.system_id, alpha.password) == (
        "127.0.0.1",
        2775,
        "alpha",
        "alphapw",
    )
    assert (beta.port, beta.system_id, beta.password) == (2776, "beta", "betapw")
    assert alpha.mps == beta.mps == 500
    assert alpha.window == beta.window == 10
    assert [r.name for r in table.routes] == ["otp", "default"]
    assert table.routes[0].strategy is Strategy.QUALITY
    assert table.routes[1].strategy is Strategy.LEAST_COST


@pytest.mark.parametrize(
    ("number", "cheaper"),
    [
        ("+447700900123", "alpha"),
        ("+4420", "alpha"),
        ("+4930", "alpha"),
        ("+331", "beta"),
        ("+1212", "beta"),
    ],
)
def test_shipped_prices_make_alpha_cheaper_for_uk_and_germany_beta_for_france_and_nanp(
    number: str, cheaper: str
) -> None:
    table = load_routes(ROOT / "config" / "routes.toml")
    alpha, beta = table.price("alpha", number), table.price("beta", number)
    assert alpha is not None
    assert beta is not None
    assert (alpha.per_segment < beta.per_segment) == (cheaper == "alpha")


def test_shipped_file_prices_uk_mobile_at_operator_level() -> None:
    table = load_routes(ROOT / "config" / "routes.toml")
    mobile, fixed = table.price("alpha", "+447700900123"), table.price("alpha", "+442071234567")
    assert mobile is not None
    assert fixed is not None
    assert (mobile.prefix, fixed.prefix) == ("+447", "+44")


def test_carrier_defaults_are_applied(load: Load) -> None:
    alpha = load(CARRIERS + PRICES + DEFAULT_ROUTE).carriers["alpha"]
    assert alpha.system_type == ""
    assert alpha.bind is BindMode.TRANSCEIVER
    assert (alpha.binds, alpha.window, alpha.otp_reserved_share) == (None, 10, 0.2)
    assert alpha.encodings == {Encoding.GSM7, Encoding.UCS2}
    assert alpha.alphanumeric_sender is True


def test_price_csv_is_read_relative_to_the_toml(tmp_path: Path, load: Load) -> None:
    (tmp_path / "prices").mkdir()
    (tmp_path / "prices" / "beta.csv").write_text(
        "prefix,price\n# comment\n+44, 0.034\n+33,0.045\n", encoding="utf-8"
    )
    prices = PRICES.replace('[prices.beta]\n"+44" = 0.034\n"+33" = 0.045\n', "")
    text = CARRIERS + prices + '[prices.beta]\nfile = "prices/beta.csv"\n' + DEFAULT_ROUTE
    price = load(text).price("beta", "+4420")
    assert price is not None
    assert price.per_segment == Decimal("0.034")


def test_unknown_carrier_in_a_route_names_file_line_and_index(problems: Problems) -> None:
    routes = "".join(
        f'[[routes]]\nname = "r{i}"\nmatch = {{ prefix = "+44{i}" }}\n'
        'strategy = "priority"\ncarriers = ["alpha", "beta"]\n'
        for i in range(3)
    )
    uk = '[[routes]]\nname = "uk"\nstrategy = "priority"\ncarriers = ["alpha", "vodafone_uk"]\n'
    text = CARRIERS + PRICES + "\n" + routes + uk
    assert problems(text) == [
        'config/routes.toml:42: routes[3].carriers[1]: unknown carrier "vodafone_uk"'
    ]
    assert text.splitlines()[41] == 'carriers = ["alpha", "vodafone_uk"]'


def test_item_of_a_multi_line_list_is_located_at_its_key(problems: Problems) -> None:
    route = (
        '\n[[routes]]\nname = "uk"\nstrategy = "priority"\ncarriers = [\n  "alpha",\n  "x",\n]\n'
    )
    text = CARRIERS + PRICES + route
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'carriers = [')}: routes[0].carriers[1]: "
        'unknown carrier "x"'
    ]


def test_unknown_carrier_on_one_line_list(problems: Problems) -> None:
    text = CARRIERS + PRICES + DEFAULT_ROUTE.replace('"beta"]', '"vodafone_uk"]')
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'vodafone_uk')}: routes[0].carriers[1]: "
        'unknown carrier "vodafone_uk"'
    ]


def test_weights_not_summing_to_100(problems: Problems) -> None:
    text = (
        CARRIERS
        + PRICES
        + '\n[[routes]]\nname = "split"\nstrategy = "weighted"\ncarriers = ["alpha", "beta"]\n'
        + "weights = { alpha = 60, beta = 30 }\n"
    )
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'weights')}: routes[0].weights: must sum to 100, got 90"
    ]


def test_weights_must_name_exactly_the_route_carriers(problems: Problems) -> None:
    text = (
        CARRIERS
        + PRICES
        + '\n[[routes]]\nname = "split"\nstrategy = "weighted"\ncarriers = ["alpha", "beta"]\n'
        + "weights = { alpha = 60, gamma = 40 }\n"
    )
    line = line_of(text, "weights")
    assert problems(text) == [
        f"config/routes.toml:{line}: routes[0].weights.gamma: "
        '"gamma" is not in this route\'s carriers',
        f'config/routes.toml:{line}: routes[0].weights: no weight for carrier "beta"',
    ]


def test_weighted_route_without_weights(problems: Problems) -> None:
    text = CARRIERS + PRICES + DEFAULT_ROUTE.replace("least_cost", "weighted")
    assert problems(text) == [
        'config/routes.toml:24: routes[0].weights: is required for strategy "weighted"'
    ]


def test_weights_on_a_route_that_does_not_use_them(problems: Problems) -> None:
    text = CARRIERS + PRICES + DEFAULT_ROUTE + "weights = { alpha = 50, beta = 50 }\n"
    assert problems(text) == [
        'config/routes.toml:28: routes[0].weights: only used by strategy "weighted", '
        'not "least_cost"'
    ]


def test_missing_price_for_a_routed_prefix(problems: Problems) -> None:
    text = (
        CARRIERS
        + PRICES.replace('"+33" = 0.060\n', '"+33" = 0.060\n"+49" = 0.055\n')
        + '\n[[routes]]\nname = "de"\nmatch = { prefix = "+4930" }\nstrategy = "least_cost"\n'
        + 'carriers = ["alpha", "beta"]\n'
    )
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'carriers = [')}: routes[0].carriers[1]: "
        'no price for "+4930" in prices.beta'
    ]


def test_operator_level_price_does_not_cover_the_whole_country(problems: Problems) -> None:
    only_mobile = PRICES.replace('"+44" = 0.030\n', "")  # alpha keeps "+447" only
    route = '\n[[routes]]\nname = "uk"\nmatch = { prefix = "+44" }\nstrategy = "priority"\n'
    text = CARRIERS + only_mobile + route + 'carriers = ["alpha"]\n'
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'carriers = [')}: routes[0].carriers[0]: "
        'no price for "+44" in prices.alpha'
    ]


def test_catch_all_route_needs_carriers_with_prices(problems: Problems) -> None:
    text = CARRIERS + PRICES.split("[prices.beta]")[0] + DEFAULT_ROUTE
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'carriers = [')}: routes[0].carriers[1]: "
        'carrier "beta" has no prices'
    ]


@pytest.mark.parametrize("mps", ["0", "-5", "0.0"])
def test_zero_or_negative_mps(problems: Problems, mps: str) -> None:
    text = CARRIERS.replace("mps = 500", f"mps = {mps}", 1) + PRICES + DEFAULT_ROUTE
    assert problems(text) == ["config/routes.toml:6: carriers.alpha.mps: must be > 0"]


def test_every_problem_is_reported_at_once(problems: Problems) -> None:
    text = (
        CARRIERS.replace("mps = 500", "mps = 0").replace("port = 2776", "port = 70000")
        + PRICES
        + DEFAULT_ROUTE
    )
    assert problems(text) == [
        "config/routes.toml:6: carriers.alpha.mps: must be > 0",
        "config/routes.toml:10: carriers.beta.port: must be <= 65535",
        "config/routes.toml:13: carriers.beta.mps: must be > 0",
    ]


def test_route_shadowed_by_an_earlier_identical_match(problems: Problems) -> None:
    uk = '\n[[routes]]\nname = "{name}"\nmatch = {{ prefix = "+44", class = "otp" }}\n'
    uk += 'strategy = "quality"\ncarriers = ["alpha", "beta"]\n'
    text = CARRIERS + PRICES + DEFAULT_ROUTE + uk.format(name="uk") + uk.format(name="uk-again")
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'match =', 2)}: routes[2].match: never matches: "
        'routes[1] "uk" has the same match and comes first'
    ]


def test_two_catch_all_routes_shadow_each_other(problems: Problems) -> None:
    text = CARRIERS + PRICES + DEFAULT_ROUTE + DEFAULT_ROUTE.replace('"default"', '"fallback"')
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, '[[routes]]', 2)}: routes[1].match: never matches: "
        'routes[0] "default" has the same match and comes first'
    ]


def test_same_prefix_with_different_class_is_not_shadowed(load: Load) -> None:
    text = (
        CARRIERS
        + PRICES
        + DEFAULT_ROUTE.replace(
            'strategy = "least_cost"', 'match = { class = "otp" }\nstrategy = "quality"'
        ).replace('"default"', '"otp"')
        + DEFAULT_ROUTE
    )
    table = load(text)
    assert [r.name for r in table.routes] == ["otp", "default"]
    assert table.routes[0].match.message_class is MessageClass.OTP


def test_duplicate_route_names(problems: Problems) -> None:
    second = DEFAULT_ROUTE.replace("strategy", 'match = { prefix = "+44" }\nstrategy')
    text = CARRIERS + PRICES + DEFAULT_ROUTE + second
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'name =', 2)}: routes[1].name: "
        'duplicate route name "default" (first at routes[0])'
    ]


def test_carrier_listed_twice_in_a_route(problems: Problems) -> None:
    text = CARRIERS + PRICES + DEFAULT_ROUTE.replace('"beta"]', '"beta", "alpha"]')
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'carriers = [')}: routes[0].carriers[2]: "
        'carrier "alpha" is listed twice'
    ]


def test_unknown_key_is_rejected_with_its_line(problems: Problems) -> None:
    text = CARRIERS.replace("mps = 500\n", "mps = 500\nmsp = 5\n", 1) + PRICES + DEFAULT_ROUTE
    assert problems(text) == ["config/routes.toml:7: carriers.alpha.msp: unknown key"]


def test_price_list_for_unknown_carrier_and_bad_price_key(problems: Problems) -> None:
    text = CARRIERS + PRICES + '\n[prices.gamma]\n"+44" = 0.01\n\n[prices.zeta]\nuk = 0.02\n'
    text += DEFAULT_ROUTE
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, '[prices.gamma]')}: prices.gamma: "
        'unknown carrier "gamma"',
        f'config/routes.toml:{line_of(text, "[prices.zeta]")}: prices.zeta: unknown carrier "zeta"',
        f"config/routes.toml:{line_of(text, 'uk = 0.02')}: prices.zeta.uk: "
        'unknown key (a price is written "+44" = 0.030)',
    ]


def test_negative_price(problems: Problems) -> None:
    text = CARRIERS + PRICES.replace('"+33" = 0.045', '"+33" = -0.045') + DEFAULT_ROUTE
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, '-0.045')}: prices.beta.+33: must be >= 0"
    ]


def test_one_currency_per_file(problems: Problems) -> None:
    text = CARRIERS + PRICES.replace("[prices.beta]\n", '[prices.beta]\ncurrency = "USD"\n')
    text += DEFAULT_ROUTE
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'USD')}: prices.beta.currency: "
        'must be "EUR" like prices.alpha (one currency per file)'
    ]


def test_otp_reserved_share_is_bounded(problems: Problems) -> None:
    text = CARRIERS.replace("mps = 500\n", "mps = 500\notp_reserved_share = 0.95\n", 1)
    text += PRICES + DEFAULT_ROUTE
    assert problems(text) == [
        "config/routes.toml:7: carriers.alpha.otp_reserved_share: must be <= 0.9"
    ]


def test_bad_route_prefix(problems: Problems) -> None:
    text = (
        CARRIERS + PRICES + DEFAULT_ROUTE.replace("strategy", 'match = { prefix = "44" }\nstrategy')
    )
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'match')}: routes[0].match.prefix: "
        'must be "+" and up to 15 digits, like "+44"'
    ]


def test_unknown_strategy(problems: Problems) -> None:
    text = CARRIERS + PRICES + DEFAULT_ROUTE.replace("least_cost", "cheapest")
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'cheapest')}: routes[0].strategy: must be one of "
        "'least_cost', 'quality', 'weighted' or 'priority'"
    ]


def test_csv_problems_are_located_in_the_csv(tmp_path: Path, problems: Problems) -> None:
    (tmp_path / "prices").mkdir()
    (tmp_path / "prices" / "beta.csv").write_text(
        "prefix,price\n+44,0.034\n44,0.02\n+33,cheap\n+1\n", encoding="utf-8"
    )
    text = CARRIERS + PRICES.split("[prices.beta]")[0]
    text += '[prices.beta]\nfile = "prices/beta.csv"\n' + DEFAULT_ROUTE
    assert problems(text) == [
        'config/prices/beta.csv:3: 44: prefix must be "+" and up to 15 digits',
        "config/prices/beta.csv:4: +33: price must be a number >= 0, got 'cheap'",
        "config/prices/beta.csv:5: +1: expected two columns: prefix,price",
    ]


def test_missing_csv(problems: Problems) -> None:
    text = CARRIERS + PRICES.replace("[prices.beta]\n", '[prices.beta]\nfile = "nope.csv"\n')
    text += DEFAULT_ROUTE
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'nope.csv')}: prices.beta.file: "
        "cannot read config/nope.csv: No such file or directory"
    ]


def test_csv_and_inline_must_not_price_the_same_prefix(tmp_path: Path, problems: Problems) -> None:
    (tmp_path / "beta.csv").write_text("+44,0.01\n", encoding="utf-8")
    text = CARRIERS + PRICES.replace("[prices.beta]\n", '[prices.beta]\nfile = "beta.csv"\n')
    text += DEFAULT_ROUTE
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'beta.csv')}: prices.beta.file: "
        'beta.csv prices "+44" again; keep it in one place'
    ]


def test_toml_syntax_error_has_its_line(problems: Problems) -> None:
    text = CARRIERS + PRICES + DEFAULT_ROUTE + "strategy = \n"
    [problem] = problems(text)
    assert problem.startswith(f"config/routes.toml:{len(text.splitlines())}: TOML syntax")


def test_no_routes_at_all(problems: Problems) -> None:
    assert problems(CARRIERS + PRICES) == ["config/routes.toml: routes: is required"]


def test_empty_route_list(problems: Problems) -> None:
    assert problems("routes = []\n" + CARRIERS + PRICES) == [
        "config/routes.toml:1: routes: at least one route is required"
    ]


def test_config_error_message_lists_every_problem(load: Load) -> None:
    text = CARRIERS.replace("mps = 500", "mps = 0") + PRICES + DEFAULT_ROUTE
    with pytest.raises(ConfigError) as caught:
        load(text)
    assert str(caught.value).splitlines() == [
        "config/routes.toml:6: carriers.alpha.mps: must be > 0",
        "config/routes.toml:13: carriers.beta.mps: must be > 0",
    ]


def test_broken_price_list_is_not_reported_again_through_its_routes(problems: Problems) -> None:
    text = CARRIERS + PRICES.split("[prices.beta]")[0] + '[prices.beta]\nfile = "nope.csv"\n'
    text += DEFAULT_ROUTE.replace("strategy", 'match = { prefix = "+44" }\nstrategy')
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, 'nope.csv')}: prices.beta.file: "
        "cannot read config/nope.csv: No such file or directory"
    ]


@pytest.mark.parametrize(
    ("line", "key", "reason"),
    [
        (
            'bind = "transmitter"',
            "bind",
            '"transmitter" is not supported yet: every worker process submits and receives '
            'receipts on one "transceiver" bind per carrier',
        ),
        ("binds = 0", "binds", "must be > 0"),
    ],
)
def test_bind_settings_we_cannot_honour_are_refused_not_ignored(
    problems: Problems, line: str, key: str, reason: str
) -> None:
    text = CARRIERS.replace("mps = 500\n", f"mps = 500\n{line}\n", 1) + PRICES + DEFAULT_ROUTE
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, line)}: carriers.alpha.{key}: {reason}"
    ]


def test_segment_receipts_defaults_to_auto_and_reads_one(load: Load) -> None:
    text = CARRIERS.replace("mps = 500\n", 'mps = 500\nsegment_receipts = "one"\n', 1)
    table = load(text + PRICES + DEFAULT_ROUTE)
    assert table.carriers["alpha"].segment_receipts is SegmentReceipts.ONE
    assert table.carriers["beta"].segment_receipts is SegmentReceipts.AUTO


def test_an_unknown_segment_receipts_mode_is_located(problems: Problems) -> None:
    line = 'segment_receipts = "some"'
    text = CARRIERS.replace("mps = 500\n", f"mps = 500\n{line}\n", 1) + PRICES + DEFAULT_ROUTE
    [problem] = problems(text)
    assert problem.startswith(
        f"config/routes.toml:{line_of(text, line)}: carriers.alpha.segment_receipts: "
    )
    assert "'auto', 'each' or 'one'" in problem


def test_binds_caps_the_cluster_and_each_carrier_keeps_its_window(load: Load) -> None:
    lines = "binds = 2\nwindow = 3\nenquire_link = 5\n"
    text = CARRIERS.replace("mps = 500\n", f"mps = 500\n{lines}", 1)
    table = load(text + PRICES + DEFAULT_ROUTE)
    alpha, beta = table.carriers["alpha"], table.carriers["beta"]
    assert (alpha.binds, alpha.window, alpha.enquire_link) == (2, 3, 5.0)
    assert (beta.binds, beta.enquire_link) == (None, 30.0)


def test_failover_on_and_permanent_on_override_the_status_table_per_carrier(load: Load) -> None:
    lines = 'failover_on = ["ESME_RINVDSTADR"]\npermanent_on = ["ESME_RSYSERR"]\n'
    text = CARRIERS.replace("mps = 500\n", f"mps = 500\n{lines}", 1)
    alpha = load(text + PRICES + DEFAULT_ROUTE).carriers["alpha"]
    assert (alpha.failover_on, alpha.permanent_on) == (
        frozenset({"ESME_RINVDSTADR"}),
        frozenset({"ESME_RSYSERR"}),
    )


@pytest.mark.parametrize(
    ("lines", "key", "reason"),
    [
        (
            'failover_on = ["RINVDSTADR"]',
            "failover_on[0]",
            'must be an SMPP status name like "ESME_RINVDSTADR" or "0x00000401"',
        ),
        (
            'failover_on = ["ESME_RSYSERR"]\npermanent_on = ["ESME_RSYSERR"]',
            "permanent_on[0]",
            '"ESME_RSYSERR" is also in failover_on; pick one',
        ),
    ],
)
def test_status_overrides_that_cannot_be_right_are_located(
    problems: Problems, lines: str, key: str, reason: str
) -> None:
    text = CARRIERS.replace("mps = 500\n", f"mps = 500\n{lines}\n", 1) + PRICES + DEFAULT_ROUTE
    line = lines.splitlines()[-1] if key.startswith("permanent") else lines
    found = problems(text)
    assert len(found) == 1
    assert found[0].startswith(f"config/routes.toml:{line_of(text, line)}: carriers.alpha.{key}")
    assert found[0].endswith(reason)


def test_pacing_defaults_to_auto_and_reads_burst1_and_window(load: Load) -> None:
    text = CARRIERS.replace("mps = 500\n", 'mps = 500\npacing = "burst1"\n', 1)
    text = text.replace('system_id = "beta"\n', 'system_id = "beta"\npacing = "window"\n')
    table = load(text + PRICES + DEFAULT_ROUTE)
    assert table.carriers["alpha"].pacing is CarrierPacing.BURST1
    assert table.carriers["beta"].pacing is CarrierPacing.WINDOW
    assert load(CARRIERS + PRICES + DEFAULT_ROUTE).carriers["alpha"].pacing is CarrierPacing.AUTO


def test_an_unknown_pacing_is_located(problems: Problems) -> None:
    line = 'pacing = "strict"'
    text = CARRIERS.replace("mps = 500\n", f"mps = 500\n{line}\n", 1) + PRICES + DEFAULT_ROUTE
    assert problems(text) == [
        f"config/routes.toml:{line_of(text, line)}: carriers.alpha.pacing: "
        "must be one of 'auto', 'window' or 'burst1'"
    ]
