"""`switchboard simulate --check` and the rates line (no sockets)."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from simulators.runner import rates_line
from switchboard.cli_simulate import simulate

ROOT = Path(__file__).resolve().parents[3]


def app() -> typer.Typer:
    cli = typer.Typer()
    cli.command("simulate")(simulate)

    @cli.command("noop")
    def noop() -> None:  # a second command keeps `simulate` a named sub-command
        """Nothing."""

    return cli


def test_check_accepts_the_shipped_scenario() -> None:
    result = CliRunner().invoke(
        app(), ["simulate", "--check", "--scenario", str(ROOT / "config/simulator.toml")]
    )
    assert result.exit_code == 0
    assert "ok (2 carriers)" in result.output


def test_check_prints_every_located_problem_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[carriers]]\nname = "a"\nsystem_id = "a"\nmps = 0\nburst = 0\n')
    result = CliRunner().invoke(app(), ["simulate", "--check", "--scenario", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:4: carriers[0].mps: must be > 0" in result.output
    assert f"{bad}:5: carriers[0].burst: must be > 0" in result.output


def test_rates_line_divides_deltas_by_the_elapsed_time() -> None:
    zero = {"submits_accepted": 0, "throttled": 0, "receipts_sent": 0}
    now = {
        "submits_accepted": 1000,
        "throttled": 20,
        "receipts_sent": 500,
        "binds": 2,
        "receipts_pending": 7,
    }
    line = rates_line({"alpha": zero}, {"alpha": now}, 2.0)
    assert " ".join(line.split()) == "alpha: ok/s 500 thr/s 10 dlr/s 250 binds 2 pending 7"


def test_check_takes_the_file_as_an_argument_too() -> None:
    path = ROOT / "config/scenarios/flaky.toml"
    result = CliRunner().invoke(app(), ["simulate", "--check", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}: ok (2 carriers)" in result.output
