"""The elected sweeper inside a `switchboard worker`: started when the worker is ready.

The election runs in the worker's main process (with prefork, the pool's parent), so killing
a pool child never moves the lock, and killing the worker hands it to another worker within
seconds. The sweep there uses an engine of its own, made on first use; a pool child forked
later drops its copy without closing the parent's connections (SQLAlchemy's
`dispose(close=False)`: psycopg and redis-py leave a parent's sockets alone after a fork).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_ready, worker_shutdown
from sqlalchemy import Engine

from carriers import RedisSegmentLearner
from messaging import LeasePolicy
from routing import RoutesWatcher
from store import MessageStore, ResendPolicy, StatusChange, make_engine
from store.otp_repository import OtpStore
from workers.campaign_release import campaign_releaser
from workers.config import WorkerSettings
from workers.context import utcnow
from workers.election import ElectionPolicy
from workers.leader import RedisSweeperLock, SweeperElection, SweeperStatus
from workers.sweeping import SweepOutbox, sweep_once

log = logging.getLogger(__name__)
REDIS_TIMEOUT = 1.0  # seconds: a hung Redis must not hold the loop past a renewal


def sweeper_client(redis_url: str) -> redis.Redis:
    """A Redis client for the election: short timeouts, so an outage is seen in a second."""
    return redis.Redis.from_url(
        redis_url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
    )


def sweeper_status(redis_url: str) -> SweeperStatus:
    """Who holds the sweeper lock (for `switchboard status`)."""
    client = sweeper_client(redis_url)
    try:
        return RedisSweeperLock(client).status()
    finally:
        client.close()


def attach_sweeper(
    app: Celery,
    settings: WorkerSettings,
    outbox: SweepOutbox,
    notify: Callable[[Sequence[StatusChange]], None],
    resend_policy: ResendPolicy,
    publish_callbacks: Callable[[list[list[int]]], None] | None = None,
) -> SweeperElection:
    """Run the sweeper election in this worker from `worker_ready` to `worker_shutdown`."""
    engines: dict[str, Engine] = {}
    releasers: dict[str, Callable[[datetime], dict[str, int]]] = {}  # made with the engine
    owner_pid = [os.getpid()]
    routes = RoutesWatcher(settings.routes_file, time.monotonic)  # its carriers' receipt modes
    # What the sweep's one-receipt settles show of each carrier (fails open); lazy, no I/O yet.
    learner = RedisSegmentLearner(sweeper_client(settings.redis_url))

    def run_sweep() -> dict[str, int]:
        if "engine" not in engines:
            engines["engine"] = make_engine(settings.resolved_database_url(), pool_size=2)
            releasers["release"] = campaign_releaser(engines["engine"], settings, outbox)
        engine = engines["engine"]
        return sweep_once(
            MessageStore(engine),
            OtpStore(engine),
            outbox,
            notify,
            settings,
            resend_policy,
            utcnow(),
            LeasePolicy(),
            publish_callbacks,
            release_campaigns=releasers["release"],
            routes=routes.current,
            learn=learner.record,
        )

    election = SweeperElection(
        RedisSweeperLock(sweeper_client(settings.redis_url)),
        run_sweep,
        ElectionPolicy(sweep_every=settings.sweep_interval),
    )

    def _forget_in_child() -> None:
        engine = engines.pop("engine", None)
        if engine is not None:
            engine.dispose(close=False)  # the parent's connections stay the parent's

    os.register_at_fork(after_in_child=_forget_in_child)

    @worker_ready.connect(weak=False)  # type: ignore[untyped-decorator]
    def _start(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", app) is not app:
            return  # another app's worker in this process
        owner_pid[0] = os.getpid()
        election.start()

    @worker_shutdown.connect(weak=False)  # type: ignore[untyped-decorator]
    def _stop(**_: Any) -> None:
        if os.getpid() != owner_pid[0]:
            return
        election.stop(release=True)
        engine = engines.pop("engine", None)
        if engine is not None:
            engine.dispose()

    return election
