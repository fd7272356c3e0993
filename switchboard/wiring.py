"""Composition root: builds every process's object graph from Settings. No logic lives here."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web
from celery import Celery
from sqlalchemy import Engine

from api import ApiServices, GroupCommitter, make_app
from api.limits import Limiter
from api.otp import OtpServices, add_otp_routes
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
from routing import RoutesWatcher
from store import MessageStore, make_engine, upgrade
from store.otp_repository import OtpStore
from switchboard.settings import Settings
from workers import CeleryOutbox, SweeperStatus, make_celery, read_sweeper_status


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


def api_app(settings: Settings) -> web.Application:
    """The aiohttp app with its store, group committer and Celery outbox; closed on cleanup."""
    engine = make_engine(settings.resolved_database_url(), pool_size=4)
    store = MessageStore(engine)
    outbox = CeleryOutbox(celery_app(settings), settings.send_batch_max)
    committer = GroupCommitter(store, outbox, settings.commit_batch_max)
    limiter, stop_limits = rate_limiter(settings, store)
    app = make_app(
        ApiServices(
            store=store,
            committer=committer,
            clock=utcnow,
            validity_seconds=settings.validity_seconds,
            routes=RoutesWatcher(settings.routes_file, time.monotonic).current,
            callback_policy=settings.callback_policy(),
            limiter=limiter,
        )
    )

    async def _close(_app: web.Application) -> None:
        stop_limits()
        committer.close()
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
