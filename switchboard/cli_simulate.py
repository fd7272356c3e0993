"""`switchboard simulate`: run (or just check) the carrier simulator; wiring only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from messaging import ConfigError
from metrics.heap import settle_heap
from simulators import load_scenario
from simulators.runner import serve


def simulate(
    file: Path | None = typer.Argument(
        None, help="scenario TOML file (same as --scenario)", show_default=False
    ),
    scenario: Path = typer.Option("config/simulator.toml", help="scenario TOML file"),
    check: bool = typer.Option(False, "--check", help="validate the scenario and exit"),
    control_port: int | None = typer.Option(None, help="override the scenario's control_port"),
) -> None:
    """Play the simulated carriers of SCENARIO until Ctrl-C, printing rates each second."""
    scenario = file or scenario
    try:
        loaded = load_scenario(scenario)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None
    if check:
        typer.echo(f"{scenario}: ok ({len(loaded.carriers)} carriers)")
        return
    if control_port is not None:
        loaded = loaded.model_copy(update={"control_port": control_port})
    settle_heap()  # start-up's objects out of every collection (metrics.heap)
    asyncio.run(serve(loaded, typer.echo))
