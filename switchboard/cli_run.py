"""`switchboard run` and `switchboard status`: a host's supervisor, and the cluster as it is."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import typer

from messaging import ConfigError
from messaging.configfile import load_model
from switchboard import wiring
from switchboard.cluster import RunRegistry
from switchboard.run import RunSupervisor
from switchboard.runconfig import RunConfig, load_run_config, process_plan
from switchboard.settings import Settings


def run(
    config: Path | None = typer.Option(
        None, "--config", help="process counts (default SWITCHBOARD_RUN_CONFIG_FILE, if present)"
    ),
    log_dir: Path | None = typer.Option(
        None, help="one log file per child in this folder (default: this process's output)"
    ),
    check: bool = typer.Option(False, "--check", help="validate the config, print the plan, exit"),
) -> None:
    """Migrate, then run and supervise this host's API and workers; SIGTERM drains them all."""
    settings = Settings()
    wiring.setup_logging(settings)
    try:
        run_config = (
            load_model(config, RunConfig) if config else load_run_config(settings.run_config_file)
        )
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(2) from None
    plan = process_plan(run_config, os.cpu_count() or 1)
    if check:
        for child in plan:
            typer.echo(f"{child.name}: {' '.join(child.args[1:])}")
        return
    wiring.require_redis(settings)
    if settings.secret_key == Settings.model_fields["secret_key"].default:
        logging.getLogger(__name__).warning(
            "SWITCHBOARD_SECRET_KEY is the development default: set a secret of your own "
            "before real traffic (docs/operations.md, Secrets)"
        )
    wiring.migrate(settings)
    supervisor = RunSupervisor(
        plan,
        run_config.supervisor,
        RunRegistry(wiring.redis_client(settings)),
        beat=run_config.beat.enabled,
        log_dir=log_dir,
    )
    raise typer.Exit(supervisor.run())


def status(
    as_json: bool = typer.Option(False, "--json", help="one JSON object instead of lines"),
) -> None:
    """The cluster now: hosts and their processes, the sweeper, binds per carrier, queues."""
    settings = Settings()
    wiring.require_redis(settings)
    state = wiring.cluster_state(settings)
    typer.echo(json.dumps(state.as_json()) if as_json else state.describe())
