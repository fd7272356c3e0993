"""Composition root: builds every process's object graph from Settings. No logic lives here."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from aiohttp import web
from celery import Celery
from celery.signals import worker_process_shutdown
from sqlalchemy import Engine

import metrics
from api import ApiServices, GroupCommitter, make_app
from api.enqueuer import CoalescingOutbox
from api.limits import Limiter
from api.otp import OtpServices, add_otp_routes
from messaging import ConfigError
from otp import OtpConfig, load_otp_config
from ratelimit import (
    MemoryWindowCounters,
    RateLimits,
    RedisWindowCounters,
    RedisWindowSync,
    SharedWindows,
    WindowCounters,
    limits_client,
    load_rate_limits,
)
from routing import RoutesWatcher, load_routes
from store import MessageStore, make_engine, upgrade
from store.otp_repository import OtpStore
from switchboard.cluster import ClusterState, read_cluster
from switchboard.live import Figures, LiveCollector, LiveReader
from switchboard.logs import configure_logging
from switchboard.settings import Settings
from workers import STATE_LOGGER, CeleryOutbox, SweeperStatus, make_celery, read_sweeper_status
from workers.task_publisher import RedisTaskPublisher


def utcnow() -> datetime:
    """Aware UTC now."""
    return datetime.now(UTC)


def require_redis(settings: Settings) -> None:
    """Standalone processes need a Redis; only `switchboard demo` starts an embedded one."""
    if not settings.redis_url:
        raise SystemExit(
            "SWITCHBOARD_REDIS_URL is not set: point it at a Redis server, "
            "or run `switchboard demo`, which starts an embedded one"
        )


def require_secrets(settings: Settings) -> None:
    """Refuse to start a real process on the development secrets (`switchboard demo`, tests
    and benches start their processes with random ones: `Stack`)."""
    problems = settings.secret_problems()
    if problems:
        raise SystemExit(
            "refusing to start: "
            + "; ".join(problems)
            + ". Set both to long random values, e.g. `python -c 'import secrets;"
            " print(secrets.token_urlsafe(32))'` (only `switchboard demo` runs without)"
        )


def migrate(settings: Settings) -> None:
    """Bring the database to the newest schema (creating var_dir for the SQLite default)."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url())


def celery_app(settings: Settings, warm_sessions: bool = False, sweeper: bool = False) -> Celery:
    """The Celery app of this deployment (workers that send bind their carriers at start;
    with `sweeper`, the worker takes part in the sweeper election)."""
    return make_celery(settings, warm_sessions, sweeper)


def sweeper_status(settings: Settings) -> SweeperStatus:
    """Who holds the sweeper lock, read from Redis."""
    return read_sweeper_status(settings.redis_url)


def enable_metrics(settings: Settings, role: str, parent_pid: int | None = None) -> Path:
    """This process family's metrics directory (its parent's, for a supervised child): dead
    families' directories removed, a new family's emptied. Before anything counts."""
    base = settings.resolved_metrics_dir()
    metrics.prune_dead(base)
    directory = metrics.process_dir(base, role, parent_pid or os.getpid())
    metrics.enable(directory, fresh=parent_pid is None)
    return directory


def serve_worker_metrics(settings: Settings, port: int) -> None:
    """A worker's /metrics on `metrics_host:port`; pool children that exit are marked dead."""
    metrics.serve(port, settings.metrics_host, metrics.current_dir())

    @worker_process_shutdown.connect(weak=False)  # type: ignore[untyped-decorator]
    def _dead(**_: object) -> None:
        metrics.mark_dead(os.getpid())


def serve_api_metrics(settings: Settings, directory: Path) -> None:
    """The API family's counters and the live gauges on `metrics_host:metrics_port`, no key."""
    store = MessageStore(make_engine(settings.resolved_database_url(), pool_size=1))
    collectors = live_services(settings, store).get("live_collectors", ())
    metrics.serve(settings.metrics_port, settings.metrics_host, directory, collectors)


def live_services(settings: Settings, store: MessageStore) -> dict[str, Any]:
    """The API's scrape-time collectors and operator figures (none without Redis)."""
    if not settings.redis_url:
        return {}
    routes = RoutesWatcher(settings.routes_file, time.monotonic).current
    reader = LiveReader(redis.Redis.from_url(settings.redis_url), store, routes)
    return {
        "metrics_dir": metrics.current_dir(),
        "live_collectors": (LiveCollector(reader),),
        "live_figures": Figures(reader, settings.resolved_metrics_dir()),
        "redis_url": settings.redis_url,
    }


def api_app(settings: Settings) -> web.Application:
    """The aiohttp app with its store, group committer and Celery outbox; closed on cleanup."""
    engine = make_engine(settings.resolved_database_url(), pool_size=4)
    store = MessageStore(engine)
    outbox = CoalescingOutbox(
        # one LPUSH a publish instead of kombu's send_task (~50 µs of CPU against ~340)
        CeleryOutbox(RedisTaskPublisher(settings.redis_url), settings.send_batch_max),
        linger=settings.enqueue_linger_ms / 1000,
        max_ids=settings.send_batch_max,
    )
    committer = GroupCommitter(
        store, outbox, settings.commit_batch_max, linger=settings.commit_linger_ms / 1000
    )
    limiter, stop_limits = rate_limiter(settings, store)
    app = make_app(
        ApiServices(
            store=store,
            committer=committer,
            clock=utcnow,
            validity_seconds=settings.validity_seconds,
            # the commit's linger: a marketing send waits for its screen, then its commit
            opt_out_linger=settings.commit_linger_ms / 1000,
            routes=RoutesWatcher(settings.routes_file, time.monotonic).current,
            callback_policy=settings.callback_policy(),
            **live_services(settings, store),
            limiter=limiter,
        )
    )

    async def _close(_app: web.Application) -> None:
        stop_limits()
        committer.close()
        outbox.close()  # publishes what the last commits left
        engine.dispose()

    add_otp_routes(app, otp_services(settings, engine, committer))
    app.on_cleanup.append(_close)
    return app


def rate_limiter(settings: Settings, store: MessageStore) -> tuple[Limiter, Callable[[], None]]:
    """The API's limiter (rates synced through Redis when limits are set) and its stop."""
    limits = load_rate_limits(settings.limits_file) if settings.limits_file else RateLimits()
    windows = SharedWindows(time.time)
    limiter = Limiter(
        limits,
        windows,
        settings.commit_queue_max,
        settings.outbox_backlog_max,
        store.queued_backlog,
    )
    limiter.start()
    stop = threading.Event()
    if limits.enabled and settings.redis_url:
        sync = RedisWindowSync(windows, limits_client(settings.redis_url))
        threading.Thread(
            target=sync.run, args=(settings.rate_sync_interval, stop), name="rate-sync", daemon=True
        ).start()

    def _stop() -> None:
        stop.set()
        limiter.close()

    return limiter, _stop


def otp_services(settings: Settings, engine: Engine, committer: GroupCommitter) -> OtpServices:
    """The OTP API's services: its store, velocity windows on Redis, limits file, HMAC key."""
    config = load_otp_config(settings.otp_config_file) if settings.otp_config_file else OtpConfig()
    windows: WindowCounters = (
        RedisWindowCounters(limits_client(settings.redis_url))
        if settings.redis_url
        else MemoryWindowCounters(time.time)  # no Redis: velocity limits hold per process only
    )
    return OtpServices(
        store=OtpStore(engine),
        committer=committer,
        windows=windows,
        clock=utcnow,
        secret=settings.otp_secret.encode(),
        config=config,
        app_name=settings.otp_app_name,
        sender=settings.otp_sender,
    )


def log_secrets(settings: Settings) -> list[str]:
    """Values no log line may show: the secret key, the OTP key and every carrier's password."""
    secrets = [settings.secret_key, settings.otp_secret]
    try:
        table = load_routes(settings.routes_file)
    except (ConfigError, OSError):
        return secrets  # the process that needs the file reports it
    return secrets + [spec.password for spec in table.carriers.values() if spec.password]


def setup_logging(settings: Settings, level: str | None = None) -> None:
    """Root logging in the configured format, secrets masked."""
    configure_logging(settings.log_format, level or settings.log_level, log_secrets(settings))
    if settings.log_state_changes:  # whatever the process's level, these lines were asked for
        logging.getLogger(STATE_LOGGER).setLevel(logging.INFO)


def worker_logging(settings: Settings, level: str) -> None:
    """A Celery worker logs through ours (format, masking), not Celery's own set-up."""
    from celery.signals import setup_logging as celery_setup_logging

    def _ours(**_: object) -> None:
        setup_logging(settings, level.upper())

    celery_setup_logging.connect(_ours, weak=False)


def redis_client(settings: Settings) -> redis.Redis:
    """A client for reports (registry, status): short timeouts, an outage is seen at once."""
    return redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)


def cluster_state(settings: Settings) -> ClusterState:
    """Hosts, processes, sweeper, binds and queue depths, read from Redis."""
    try:
        carriers = list(load_routes(settings.routes_file).carriers)
    except (ConfigError, OSError):
        carriers = []  # binds of the carriers that report them, still
    client = redis_client(settings)
    try:
        return read_cluster(client, carriers)
    finally:
        client.close()
