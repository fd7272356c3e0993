"""The callbacks tasks as plain functions: hand-off, delivery, retry, release.

Hand-off: a status change commits its callback events with it (`store.callback_outbox`); after
the commit the worker publishes one `switchboard.callbacks` task per batch of message ids
(`handoff_batches`). That task claims the new events of those messages, POSTs them through the
process's dispatcher, deletes the delivered rows and sets `next_attempt_at` of the failed ones
(`messaging.next_callback_attempt`: exponential, capped, given up after 24 h). The beat sweep
calls `release_due`, which publishes `switchboard.callbacks.retry` tasks carrying (event id,
attempts) of the events that are due: retries, leases of dead workers, lost hand-offs. No
Celery countdowns: a delay lives in the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from messaging import DEFAULT_CALLBACK_RETRY, CallbackRetry, next_callback_attempt
from metrics import count_callbacks
from store import (
    CALLBACK_HANDOFF_GRACE,
    CallbackOutbox,
    PendingCallback,
    SigningSecrets,
    StatusChange,
    make_engine,
)
from workers.callback_dispatcher import CallbackDispatcher, HttpDispatcher, LazyDispatcher
from workers.config import WorkerSettings

log = logging.getLogger(__name__)

# How long a task holds the events it claimed: past it, the sweep hands them out again (the
# worker is taken for dead). Deliveries give up `LEASE_MARGIN` before, so a live task is done.
LEASE = timedelta(seconds=120)
LEASE_MARGIN = timedelta(seconds=15)
HANDOFF_BATCH = 500  # message ids per hand-off task
RELEASE_LIMIT = 5000  # events one sweep releases; the next sweep takes the rest
RELEASE_BATCH = 500  # events per retry task


@dataclass(frozen=True)
class CallbackDelivery:
    """What the callbacks tasks work with in one worker process."""

    outbox: CallbackOutbox
    dispatcher: CallbackDispatcher
    clock: Callable[[], datetime]
    retry: CallbackRetry = DEFAULT_CALLBACK_RETRY
    lease: timedelta = LEASE


@dataclass(frozen=True)
class DeliveryStats:
    """What one delivery task did."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    gave_up: int = 0


def handoff_batches(changes: Sequence[StatusChange], size: int = HANDOFF_BATCH) -> list[list[str]]:
    """Ids of the messages among `changes` that may have callback events, `size` per task."""
    ids = list(dict.fromkeys(c.message_id for c in changes if c.callback_url))
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def deliver_new(delivery: CallbackDelivery, message_ids: Sequence[str]) -> DeliveryStats:
    """The hand-off task: deliver the not-yet-tried events of these messages."""
    now = delivery.clock()
    events = delivery.outbox.claim_new(message_ids, now + delivery.lease)
    return _deliver(delivery, events, now)


def deliver_released(delivery: CallbackDelivery, refs: Sequence[Sequence[int]]) -> DeliveryStats:
    """The retry task: deliver events the sweep released, as (event id, attempts)."""
    now = delivery.clock()
    pairs = [(int(ref[0]), int(ref[1])) for ref in refs]
    events = delivery.outbox.claim(pairs, now + delivery.lease)
    return _deliver(delivery, events, now)


def _deliver(
    delivery: CallbackDelivery, events: Sequence[PendingCallback], claimed_at: datetime
) -> DeliveryStats:
    if not events:
        return DeliveryStats()
    budget = (delivery.lease - LEASE_MARGIN).total_seconds()
    report = delivery.dispatcher.deliver(events, deadline=budget)
    failed = set(report.failed)
    now = delivery.clock()
    retry: list[tuple[int, datetime]] = []
    dropped: list[int] = []
    for event in events:
        if event.event_id not in failed:
            continue
        at = next_callback_attempt(event.attempts, now, event.created_at, delivery.retry)
        if at is None:
            dropped.append(event.event_id)
        else:
            retry.append((event.event_id, at))
    delivery.outbox.settle(report.delivered, retry, dropped)
    count_callbacks(len(report.delivered), len(retry), len(dropped))  # metrics, per task
    if dropped:
        first = next(e for e in events if e.event_id == dropped[0])
        log.warning(
            "gave up %d callbacks after %s (first: message %s, %s to %s)",
            len(dropped),
            delivery.retry.give_up_after,
            first.event.id,
            first.event.status,
            first.url,
        )
    return DeliveryStats(len(events), len(report.delivered), len(retry), len(dropped))


def release_due(
    delivery: CallbackDelivery,
    publish: Callable[[list[list[int]]], None],
    limit: int = RELEASE_LIMIT,
    per_task: int = RELEASE_BATCH,
) -> int:
    """The sweep's part: publish retry tasks for the events due now; how many were released.

    Each released event is held for `CALLBACK_HANDOFF_GRACE`, so a sweep before its task ran
    does not release it again; if the task is lost, the hold runs out and the next sweep does.
    """
    return release_due_events(delivery.outbox, publish, delivery.clock(), limit, per_task)


def release_due_events(
    outbox: CallbackOutbox,
    publish: Callable[[list[list[int]]], None],
    now: datetime,
    limit: int = RELEASE_LIMIT,
    per_task: int = RELEASE_BATCH,
) -> int:
    """`release_due` over any outbox (the sweeper's own engine, no dispatcher)."""
    refs = outbox.release_due(now, now + CALLBACK_HANDOFF_GRACE, limit)
    for start in range(0, len(refs), per_task):
        publish([[event_id, attempts] for event_id, attempts in refs[start : start + per_task]])
    return len(refs)


def open_delivery(settings: WorkerSettings, clock: Callable[[], datetime]) -> CallbackDelivery:
    """The real CallbackDelivery of a worker process: its own engine and aiohttp dispatcher."""
    engine = make_engine(settings.resolved_database_url())
    return CallbackDelivery(
        CallbackOutbox(engine),
        make_dispatcher(settings, engine, clock),
        clock,
        callback_retry(settings),
    )


def make_dispatcher(
    settings: WorkerSettings, engine: Engine, clock: Callable[[], datetime]
) -> CallbackDispatcher:
    """The process's aiohttp dispatcher as the settings say, started on first delivery; each
    account's own signing secrets read from `engine` (on the dispatcher's thread) at most every
    5 s."""
    signing = SigningSecrets(engine, clock=clock)
    return LazyDispatcher(
        lambda: HttpDispatcher(
            settings.secret_key,
            account_secrets=signing.secrets_for,
            timeout=settings.callback_timeout,
            per_host=settings.callback_per_host,
            total=settings.callback_concurrency,
            batch_max=settings.callback_batch_max,
            batch_wait=settings.callback_batch_ms / 1000,
            policy=settings.callback_policy(),
        )
    )


def callback_retry(settings: WorkerSettings) -> CallbackRetry:
    """The retry schedule of failed callbacks, from the settings."""
    return CallbackRetry(
        first=timedelta(seconds=settings.callback_retry_first),
        cap=timedelta(seconds=settings.callback_retry_max),
        give_up_after=timedelta(seconds=settings.callback_give_up_after),
    )


def close_delivery(delivery: CallbackDelivery) -> None:
    """Stop the dispatcher and close the engine's connections."""
    delivery.dispatcher.close()
    delivery.outbox.engine.dispose()
