"""`switchboard routes check|explain|diff` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from messaging import Encoding, MessageClass
from routing import RouteRequest, Snapshot, decision_json, explain, load_routes
from switchboard.cli_routes import routes_app
from tests.unit.routing.conftest import CARRIERS, DEFAULT_ROUTE, PRICES

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = str(ROOT / "config" / "routes.toml")
runner = CliRunner()


def write(tmp_path: Path, name: str, text: str) -> str:
    """Write a routes file and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_check_accepts_the_shipped_file() -> None:
    result = runner.invoke(routes_app, ["check", SHIPPED])
    assert result.exit_code == 0, result.output
    assert "ok — 2 carriers, 2 routes, 13 prices (EUR)" in result.output


def test_check_prints_every_problem_and_exits_1(tmp_path: Path) -> None:
    path = write(
        tmp_path, "bad.toml", CARRIERS.replace("mps = 500", "mps = 0") + PRICES + DEFAULT_ROUTE
    )
    result = runner.invoke(routes_app, ["check", path])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"{path}:6: carriers.alpha.mps: must be > 0",
        f"{path}:13: carriers.beta.mps: must be > 0",
        f"{path}: 2 problems",
    ]


def test_explain_lists_candidates_in_order_with_cost_and_score() -> None:
    result = runner.invoke(
        routes_app, ["explain", "+44 7700 900123", "--class", "otp", "--file", SHIPPED]
    )
    assert result.exit_code == 0, result.output
    assert '+447700900123 (otp, 1 segment(s), gsm7): route "otp"' in result.output
    rows = [line for line in result.output.splitlines() if "EUR" in line]
    # At equal health, quality falls back to cost: alpha (0.028 on +447) before beta (0.032).
    assert "alpha" in rows[0]
    assert "0.0280 EUR" in rows[0]
    assert "1.00" in rows[0]
    assert "beta" in rows[1]
    assert "0.0320 EUR" in rows[1]


def test_explain_says_why_a_carrier_is_left_out() -> None:
    result = runner.invoke(
        routes_app, ["explain", "+447700900123", "-c", "otp", "-f", SHIPPED, "--down", "alpha"]
    )
    assert result.exit_code == 0, result.output
    left_out = result.output.split("Left out")[1]
    assert "alpha" in left_out
    assert "circuit open" in left_out


def test_explain_cost_counts_segments() -> None:
    result = runner.invoke(
        routes_app, ["explain", "+4930123", "-c", "marketing", "-f", SHIPPED, "--segments", "3"]
    )
    assert result.exit_code == 0, result.output
    first = next(line for line in result.output.splitlines() if "EUR" in line)
    assert "alpha" in first
    assert "0.0550 EUR" in first
    assert "0.1650 EUR" in first


def test_explain_with_no_matching_route(tmp_path: Path) -> None:
    only_uk = DEFAULT_ROUTE.replace("strategy", 'match = { prefix = "+44" }\nstrategy')
    path = write(tmp_path, "uk.toml", CARRIERS + PRICES + only_uk)
    result = runner.invoke(routes_app, ["explain", "+33123456", "-f", path])
    assert result.exit_code == 0, result.output
    assert "no route matches" in result.output
    assert "no candidates" in result.output


def test_explain_rejects_what_is_not_a_number() -> None:
    result = runner.invoke(routes_app, ["explain", "07700 900123", "-f", SHIPPED])
    assert result.exit_code == 2


def test_diff_of_a_file_with_itself_is_empty() -> None:
    result = runner.invoke(routes_app, ["diff", SHIPPED, SHIPPED])
    assert result.exit_code == 0, result.output
    assert "no routing or price changes" in result.output


def test_diff_shows_price_and_carrier_changes(tmp_path: Path) -> None:
    old = write(tmp_path, "old.toml", CARRIERS + PRICES + DEFAULT_ROUTE)
    # beta undercuts alpha for +44 and the +447 operator price disappears.
    cheaper = PRICES.replace('"+44" = 0.034', '"+44" = 0.010')
    new = write(
        tmp_path, "new.toml", CARRIERS + cheaper.replace('"+447" = 0.028\n', "") + DEFAULT_ROUTE
    )
    result = runner.invoke(routes_app, ["diff", old, new])
    assert result.exit_code == 0, result.output
    prices = result.output.split("Price changes")[1].split("Traffic")[0]
    assert any(
        "alpha" in row and "+447" in row and "0.0280" in row and " - " in row
        for row in prices.splitlines()
    )
    assert any(
        "beta" in row and "+44 " in row and "0.0340" in row and "0.0100" in row
        for row in prices.splitlines()
    )
    traffic = result.output.split("Traffic that goes another way")[1]
    uk = [line for line in traffic.splitlines() if "+44 " in line]
    assert len(uk) == 1  # one row for all three classes
    assert "│ all " in uk[0]
    assert "default: alpha 0.03, beta 0.034" in uk[0]
    assert "default: beta 0.01, alpha 0.03" in uk[0]
    assert "+33" not in traffic


def test_diff_refuses_an_invalid_file(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.toml", "carriers = 1\n")
    result = runner.invoke(routes_app, ["diff", SHIPPED, bad])
    assert result.exit_code == 1
    assert "carriers: must be a table" in result.output


def test_check_summarises_carriers_routes_and_account_rules() -> None:
    result = runner.invoke(routes_app, ["check", SHIPPED])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("  beta: 127.0.0.1:2776, 500 MPS") for line in lines)
    assert any(line.endswith("; does not serve +7") for line in lines)
    assert "  otp: class otp → quality: alpha, beta" in lines
    assert "  default: everything else → least_cost: alpha, beta" in lines
    assert "  trial: blocked from +234, +7" in lines


def test_explain_json_is_the_api_json() -> None:
    result = runner.invoke(
        routes_app, ["explain", "+79161234567", "-c", "otp", "-f", SHIPPED, "--json"]
    )
    assert result.exit_code == 0, result.output
    request = RouteRequest("explain", "+79161234567", MessageClass.OTP, 1, Encoding.GSM7)
    expected = decision_json(request, explain(request, load_routes(SHIPPED), Snapshot.empty()))
    assert json.loads(result.output) == expected
    assert expected["excluded"] == [
        {
            "carrier": "beta",
            "reason": "destination not served",
            "detail": "does not serve +7 (carriers.beta.exclude_prefixes)",
        }
    ]


def test_explain_tokens_demote_a_carrier_over_its_mps_share() -> None:
    result = runner.invoke(
        routes_app,
        ["explain", "+447700900123", "-f", SHIPPED, "--segments", "2", "--tokens", "alpha=1"],
    )
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "EUR" in line]
    assert "beta" in rows[0]
    assert "alpha" in rows[1]
    assert "over its MPS share" in rows[1]
    assert (
        "tried last, over its MPS share: alpha (1 token(s) left in its MPS bucket for 2 "
        "segment(s): tried last)" in result.output
    )


def test_explain_tokens_must_name_a_carrier_and_a_number() -> None:
    for bad in ("alpha", "alpha=x", "zeta=1", "alpha=-1"):
        result = runner.invoke(routes_app, ["explain", "+4420", "-f", SHIPPED, "--tokens", bad])
        assert result.exit_code == 2, (bad, result.output)


def test_explain_blocked_account_says_why() -> None:
    result = runner.invoke(
        routes_app, ["explain", "+2348031234567", "-f", SHIPPED, "--account", "trial"]
    )
    assert result.exit_code == 0, result.output
    assert "no candidates" in result.output
    assert 'account "trial" may not send to +234 (accounts.trial.blocked_prefixes)' in result.output
    assert result.output.count("account blocked") == 2  # alpha and beta


def test_diff_lists_exclusion_changes(tmp_path: Path) -> None:
    old = write(tmp_path, "old.toml", CARRIERS + PRICES + DEFAULT_ROUTE)
    text = CARRIERS.replace("mps = 500\n", 'mps = 500\nexclude_prefixes = ["+33"]\n', 1)
    text += PRICES + DEFAULT_ROUTE + '\n[accounts.acme]\nblocked_prefixes = ["+44"]\n'
    new = write(tmp_path, "new.toml", text)
    result = runner.invoke(routes_app, ["diff", old, new])
    assert result.exit_code == 0, result.output
    section = result.output.split("Exclusion changes")[1]
    assert "account acme may no longer send to +44" in section
    assert "alpha no longer serves +33" in section
    traffic = result.output.split("Traffic that goes another way")[1].split("Exclusion")[0]
    assert any("+33 " in row and "default: beta 0.045 " in row for row in traffic.splitlines())


def test_explain_and_check_show_each_carriers_pacing(tmp_path: Path) -> None:
    text = CARRIERS.replace("mps = 500\n", 'mps = 500\npacing = "burst1"\n', 1)
    path = write(tmp_path, "routes.toml", text + PRICES + DEFAULT_ROUTE)
    result = runner.invoke(routes_app, ["explain", "+447700900123", "--file", path])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        "pacing: alpha burst1 (burst 1: one sender at a time, every two submits 1/MPS apart); "
        "segment_receipts auto"
    ) in lines
    assert any(line.startswith("pacing: beta auto (two senders;") for line in lines)
    checked = runner.invoke(routes_app, ["check", path])
    assert "    pacing: alpha burst1 (burst 1" in checked.output


def test_explain_says_whether_the_route_spills_and_check_shows_the_switch(tmp_path: Path) -> None:
    path = write(tmp_path, "routes.toml", CARRIERS + PRICES + DEFAULT_ROUTE)
    marketing = runner.invoke(
        routes_app, ["explain", "+447700900123", "-c", "marketing", "--file", path]
    )
    assert marketing.exit_code == 0, marketing.output
    assert (
        "spill: on (marketing default): a message the first candidate has no MPS token for now "
        "goes to the next one with a token"
    ) in marketing.output.splitlines()
    otp = runner.invoke(routes_app, ["explain", "+447700900123", "-c", "otp", "--file", path])
    assert "spill: off (otp default): a message waits for its candidate's MPS tokens" in otp.output
    off = DEFAULT_ROUTE.replace(
        'strategy = "least_cost"\n', 'strategy = "least_cost"\nspill = false\n'
    )
    path = write(tmp_path, "off.toml", CARRIERS + PRICES + off)
    marketing = runner.invoke(
        routes_app, ["explain", "+447700900123", "-c", "marketing", "--file", path]
    )
    assert "spill: off (spill = false): a message waits" in marketing.output
    checked = runner.invoke(routes_app, ["check", path])
    assert "  default: everything else → least_cost: alpha, beta, spill = false" in checked.output
