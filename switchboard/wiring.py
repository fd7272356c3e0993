"""Composition root: builds every process's object graph from Settings. No logic lives here."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aiohttp import web
from celery import Celery

from api import ApiServices, GroupCommitter, make_app
from routing import RoutesWatcher
from store import MessageStore, make_engine, upgrade
from switchboard.settings import Settings
from workers import CeleryOutbox, make_celery


def utcnow() -> datetime:
    """Aware UTC now."""
    return datetime.now(UTC)


def require_redis(settings: Settings) -> None:
    """Standalone processes need a Redis; only `switchboard demo` starts an embedded one for them."""
    if not settings.redis_url:
        raise SystemExit(
            "SWITCHBOARD_REDIS_URL is not set: point it at a Redis server, "
            "or run `switchboard demo`, which starts an embedded one"
        )


def migrate(settings: Settings) -> None:
    """Bring the database to the newest schema (creating var_dir for the SQLite default)."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url())


def celery_app(settings: Settings) -> Celery:
    """The Celery app of this deployment."""
    return make_celery(settings)


def api_app(settings: Settings) -> web.Application:
    """The aiohttp app with its store, group committer and Celery outbox; closed on cleanup."""
    engine = make_engine(settings.resolved_database_url(), pool_size=4)
    store = MessageStore(engine)
    outbox = CeleryOutbox(celery_app(settings), settings.send_batch_max)
    committer = GroupCommitter(store, outbox, settings.commit_batch_max)
    app = make_app(
        ApiServices(
            store=store,
            committer=committer,
            clock=utcnow,
            validity_seconds=settings.validity_seconds,
            routes=RoutesWatcher(settings.routes_file, time.monotonic).current,
        )
    )

    async def _close(_app: web.Application) -> None:
        committer.close()
        engine.dispose()

    app.on_cleanup.append(_close)
    return app
