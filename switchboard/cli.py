"""The `switchboard` command: wires the packages together; holds no logic of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import typer
import uvloop
from aiohttp import web

import metrics
from api import run_api
from metrics.heap import settle_heap
from switchboard import wiring
from switchboard.cli_campaigns import campaigns_app
from switchboard.cli_routes import routes_app
from switchboard.cli_run import run, status
from switchboard.cli_simulate import simulate
from switchboard.demo import demo
from switchboard.processes import lower_cpu_priority
from switchboard.settings import Settings
from switchboard.supervisor import ApiSupervisor, api_child_args, watch_parent

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from store import MessageStore

app = typer.Typer(help="Switchboard SMS/OTP gateway", no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="API keys", no_args_is_help=True)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")


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


def _key_store() -> tuple[MessageStore, Engine]:
    from store import MessageStore, make_engine

    settings = Settings()
    wiring.migrate(settings)
    engine = make_engine(settings.resolved_database_url())
    return MessageStore(engine), engine


@keys_app.command("list")
def keys_list(
    account: str | None = typer.Option(None, "--account", help="only this account's keys"),
) -> None:
    """List API keys: id, account, prefix (`sb_<prefix>_…`), admin, created, revoked."""
    store, engine = _key_store()
    for k in store.list_api_keys(account):
        revoked = k.revoked_at.isoformat() if k.revoked_at else "-"
        admin = "admin" if k.is_admin else "-"
        typer.echo(
            f"{k.id}  {k.account}  sb_{k.prefix}_…  {admin}  {k.created_at.isoformat()}  {revoked}"
        )
    engine.dispose()


@keys_app.command("revoke")
def keys_revoke(key: str = typer.Argument(..., help="the key's id or prefix")) -> None:
    """Revoke an API key (API processes refuse it within their key cache's lifetime)."""
    store, engine = _key_store()
    found = store.find_api_key(key)
    if found is None:
        engine.dispose()
        typer.echo(f"no API key with id or prefix {key!r}", err=True)
        raise typer.Exit(1)
    store.revoke_api_key(found.id, wiring.utcnow())
    engine.dispose()
    typer.echo(f"revoked {found.id} (sb_{found.prefix}_…) of {found.account}")


@keys_app.command("rotate")
def keys_rotate(key: str = typer.Argument(..., help="the key's id or prefix")) -> None:
    """Revoke an API key and print its successor (same account and rights): copy it now."""
    store, engine = _key_store()
    found = store.find_api_key(key)
    rotated = store.rotate_api_key(found.id, wiring.utcnow()) if found is not None else None
    engine.dispose()
    if rotated is None:
        typer.echo(f"no live API key with id or prefix {key!r}", err=True)
        raise typer.Exit(1)
    typer.echo(rotated[1])


@app.command("api")
def api(
    host: str | None = typer.Option(None, help="listen address (default SWITCHBOARD_API_HOST)"),
    port: int | None = typer.Option(None, help="listen port (default SWITCHBOARD_API_PORT)"),
    processes: int | None = typer.Option(
        None, min=1, help="API processes sharing the port (default SWITCHBOARD_API_PROCESSES)"
    ),
    reuse_port: bool = typer.Option(False, "--reuse-port", help="bind with SO_REUSEPORT"),
    parent_pid: int | None = typer.Option(None, hidden=True, help="supervisor to watch"),
) -> None:
    """Run the HTTP API (with --processes N: N processes on one port, under a supervisor)."""
    settings = Settings()
    wiring.setup_logging(settings)
    wiring.require_redis(settings)
    wiring.require_secrets(settings)
    host = host or settings.api_host
    port = port or settings.api_port
    count = processes or settings.api_processes
    if parent_pid is None:  # a supervised child: its parent migrated already
        wiring.migrate(settings)
    if parent_pid is None and settings.metrics_port:  # the family's one unauthenticated port
        wiring.serve_api_metrics(settings, wiring.enable_metrics(settings, "api"))
    if count > 1:
        supervisor = ApiSupervisor(api_child_args(host, port), count)
        raise typer.Exit(supervisor.run())
    if not metrics.is_enabled():  # before anything counts (a supervised child: its parent's)
        wiring.enable_metrics(settings, "api", parent_pid)
    application = wiring.api_app(settings)
    settle_heap(settings.gc_young_threshold)  # start-up's objects out of every collection
    if parent_pid is not None:
        watched = parent_pid

        async def _watch(app: web.Application) -> AsyncIterator[None]:
            task = asyncio.get_running_loop().create_task(watch_parent(watched))
            yield
            task.cancel()

        application.cleanup_ctx.append(_watch)
    run_api(  # web.run_app's loop, plus a deadline for request headers (api.server)
        application,
        host=host,
        port=port,
        reuse_port=reuse_port,
        header_timeout=settings.api_header_timeout,
        loop=uvloop.new_event_loop(),  # the API's loop: about a third less CPU per request
        announce=lambda s: typer.echo(s, err=True),
    )


@app.command("worker")
def worker(
    queues: str = typer.Option(
        "otp,transactional,marketing,receipts,callbacks", help="comma-separated queues"
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
    metrics_port: int | None = typer.Option(
        None, help="serve /metrics on this port (default SWITCHBOARD_METRICS_PORT; 0: off)"
    ),
) -> None:
    """Run a Celery worker (prefork) on the given queues."""
    settings = Settings()
    wiring.enable_metrics(settings, "worker")  # before the pool forks: children inherit it
    port = settings.metrics_port if metrics_port is None else metrics_port
    if port:
        wiring.serve_worker_metrics(settings, port)
    if nice:
        # On SQLite every writer takes the one file lock: a worker niced session-wide would
        # hold it while starved and stall the API and the OTP lane (priority inversion), so
        # there only the process itself is niced.
        sqlite = settings.resolved_database_url().startswith("sqlite")
        lower_cpu_priority(nice, whole_session=not sqlite)  # the pool children inherit it
    wiring.require_redis(settings)
    wiring.require_secrets(settings)
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
    wiring.worker_logging(settings, loglevel)
    del beat  # the sweep runs under a Redis lock in one worker of any (workers.leader)
    sends = bool(set(queues.split(",")) & {"otp", "transactional", "marketing"})
    celery = wiring.celery_app(settings, warm_sessions=sends, sweeper=sweeper)
    settle_heap(settings.gc_young_threshold)  # before the pool forks: the children share it
    celery.worker_main(argv)


app.command("run")(run)
app.command("status")(status)
app.add_typer(routes_app, name="routes", help="Check, explain and diff routing files")
app.add_typer(campaigns_app, name="campaigns")
app.command("simulate", help="Run the carrier simulator (SMPP server)")(simulate)
app.command("demo")(demo)


def main() -> None:
    """Entry point of the `switchboard` script."""
    app()
