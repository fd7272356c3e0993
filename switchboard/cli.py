"""The `switchboard` command: wires the packages together; holds no logic of its own."""

from __future__ import annotations

import logging
import sys

import typer
from aiohttp import web

from switchboard import wiring
from switchboard.cli_routes import routes_app
from switchboard.cli_simulate import simulate
from switchboard.demo import demo
from switchboard.processes import lower_cpu_priority
from switchboard.settings import Settings

app = typer.Typer(help="Switchboard SMS/OTP gateway", no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="API keys", no_args_is_help=True)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")


def _logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema of SWITCHBOARD_DATABASE_URL (default: SQLite under var/)."""
    settings = Settings()
    wiring.migrate(settings)
    typer.echo(f"database at {settings.resolved_database_url()} is up to date")


@keys_app.command("create")
def keys_create(
    account: str = typer.Option(..., "--account", help="account name (created if new)"),
    admin: bool = typer.Option(False, "--admin", help="may use admin endpoints"),
) -> None:
    """Create an API key and print it (only its hash is stored: copy it now)."""
    from store import MessageStore, make_engine

    settings = Settings()
    wiring.migrate(settings)
    engine = make_engine(settings.resolved_database_url())
    key = MessageStore(engine).create_api_key(account, wiring.utcnow(), is_admin=admin)
    engine.dispose()
    typer.echo(key)


@app.command("api")
def api(
    host: str | None = typer.Option(None, help="listen address (default SWITCHBOARD_API_HOST)"),
    port: int | None = typer.Option(None, help="listen port (default SWITCHBOARD_API_PORT)"),
) -> None:
    """Run the HTTP API."""
    _logging()
    settings = Settings()
    wiring.require_redis(settings)
    wiring.migrate(settings)
    web.run_app(
        wiring.api_app(settings),
        host=host or settings.api_host,
        port=port or settings.api_port,
        access_log=None,
        print=lambda s: typer.echo(s, err=True),
    )


@app.command("worker")
def worker(
    queues: str = typer.Option(
        "otp,transactional,marketing,receipts", help="comma-separated queues"
    ),
    concurrency: int | None = typer.Option(
        None, help="worker processes (default SWITCHBOARD_WORKER_CONCURRENCY)"
    ),
    beat: bool = typer.Option(
        False,
        "--beat",
        help="accepted for compatibility, does nothing: every worker may hold the sweeper lock",
    ),
    sweeper: bool = typer.Option(
        True, "--sweeper/--no-sweeper", help="take part in the sweeper election (one sweeps)"
    ),
    loglevel: str = typer.Option("WARNING"),
    nice: int = typer.Option(0, help="CPU niceness: give bulk (marketing) workers 10 so OTP wins"),
    pool: str = typer.Option("prefork", help="prefork (processes) or threads (one process)"),
) -> None:
    """Run a Celery worker (prefork) on the given queues."""
    settings = Settings()
    if nice:
        # On SQLite every writer takes the one file lock: a worker niced session-wide would
        # hold it while starved and stall the API and the OTP lane (priority inversion), so
        # there only the process itself is niced.
        sqlite = settings.resolved_database_url().startswith("sqlite")
        lower_cpu_priority(nice, whole_session=not sqlite)  # the pool children inherit it
    wiring.require_redis(settings)
    wiring.migrate(settings)
    argv = [
        "worker",
        "-Q",
        queues,
        "-c",
        str(concurrency or settings.worker_concurrency),
        "--loglevel",
        loglevel,
        "-P",
        pool,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    del beat  # the sweep runs under a Redis lock in one worker of any (workers.leader)
    sends = bool(set(queues.split(",")) & {"otp", "transactional", "marketing"})
    wiring.celery_app(settings, warm_sessions=sends, sweeper=sweeper).worker_main(argv)


@app.command("status")
def status() -> None:
    """Who holds the sweeper lock, and the last sweep."""
    settings = Settings()
    wiring.require_redis(settings)
    typer.echo(wiring.sweeper_status(settings).describe())


app.add_typer(routes_app, name="routes", help="Check, explain and diff routing files")
app.command("simulate", help="Run the carrier simulator (SMPP server)")(simulate)
app.command("demo")(demo)


def main() -> None:
    """Entry point of the `switchboard` script."""
    app()
