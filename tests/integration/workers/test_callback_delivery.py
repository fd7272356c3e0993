"""Callback delivery tasks over the real store (SQLite and PostgreSQL) and the memory twin."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from sqlalchemy import select

from messaging import CallbackRetry
from store import (
    AttemptResult,
    CallbackOutbox,
    MessageStore,
    NewMessage,
    ReceiptRecord,
    SendOutcome,
    new_id,
)
from store.models import CallbackEventRow
from tests.fakes import FakeClock
from workers.callback_delivery import (
    CallbackDelivery,
    deliver_new,
    deliver_released,
    handoff_batches,
    release_due,
)
from workers.callback_dispatcher import MemoryDispatcher

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
UP = "http://127.0.0.1:1/up"
DOWN = "http://127.0.0.1:1/down"
RETRY = CallbackRetry(
    first=timedelta(seconds=2), cap=timedelta(minutes=10), give_up_after=timedelta(hours=24)
)


class Clock:
    """An aware UTC clock that moves when told."""

    def __init__(self) -> None:
        self.seconds = FakeClock(0.0)

    def __call__(self) -> datetime:
        return T0 + timedelta(seconds=self.seconds())


def _send(store: MessageStore, urls: list[str], clock: Clock) -> list[str]:
    account = store.ensure_account("acme", T0)
    rows = [
        NewMessage(
            new_id(),
            account,
            "+447911123456",
            "Switchboard",
            "hi",
            "transactional",
            "gsm7",
            1,
            url,
            T0,
            T0 + timedelta(hours=1),
        )
        for url in urls
    ]
    store.insert_messages(rows)
    store.claim([r.id for r in rows], clock())
    attempt = AttemptResult("alpha", "default", Decimal("0.03"), "EUR", True, None, ("c",))
    changes = store.record_outcomes([SendOutcome(r.id, (attempt,), "sent") for r in rows], clock())
    return [i for batch in handoff_batches(changes) for i in batch]


def _next_attempts(store: MessageStore) -> list[datetime]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(CallbackEventRow.next_attempt_at)).scalars())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dispatcher() -> MemoryDispatcher:
    return MemoryDispatcher(failing={DOWN})


@pytest.fixture
def delivery(store: MessageStore, dispatcher: MemoryDispatcher, clock: Clock) -> CallbackDelivery:
    return CallbackDelivery(CallbackOutbox(store.engine), dispatcher, clock, RETRY)


def test_delivered_events_are_deleted_in_one_go(
    store: MessageStore, delivery: CallbackDelivery, dispatcher: MemoryDispatcher, clock: Clock
) -> None:
    ids = _send(store, [UP] * 5, clock)
    stats = deliver_new(delivery, ids)
    assert (stats.claimed, stats.delivered, stats.retried) == (5, 5, 0)
    assert delivery.outbox.pending() == 0
    assert sorted(orjson.loads(body)["id"] for _, body in dispatcher.posted) == sorted(ids)
    assert deliver_new(delivery, ids).claimed == 0  # a duplicate hand-off posts nothing


def test_a_failed_event_waits_in_the_database_and_the_sweep_releases_it_when_due(
    store: MessageStore, delivery: CallbackDelivery, dispatcher: MemoryDispatcher, clock: Clock
) -> None:
    ids = _send(store, [DOWN], clock)
    assert deliver_new(delivery, ids).retried == 1
    assert _next_attempts(store) == [T0 + timedelta(seconds=2)]
    published: list[list[list[int]]] = []
    clock.seconds.advance(1)
    assert release_due(delivery, published.append) == 0
    clock.seconds.advance(1)
    assert release_due(delivery, published.append) == 1
    assert release_due(delivery, published.append) == 0  # held until its task runs
    [refs] = published
    assert deliver_released(delivery, refs).retried == 1  # still down: 4 s now
    assert _next_attempts(store) == [T0 + timedelta(seconds=2 + 4)]
    dispatcher.failing.clear()  # the receiver is back
    clock.seconds.advance(4)
    published.clear()
    assert release_due(delivery, published.append) == 1
    assert deliver_released(delivery, published[0]).delivered == 1
    assert deliver_released(delivery, published[0]).claimed == 0  # a stale ref changes nothing
    assert delivery.outbox.pending() == 0
    [(_, body)] = dispatcher.posted
    assert orjson.loads(body)["id"] == ids[0]


def test_an_event_not_delivered_in_24_hours_is_given_up_and_logged(
    store: MessageStore,
    delivery: CallbackDelivery,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = _send(store, [DOWN], clock)
    deliver_new(delivery, ids)
    clock.seconds.advance(24 * 3600)
    published: list[list[list[int]]] = []
    assert release_due(delivery, published.append) == 1
    with caplog.at_level(logging.WARNING):
        stats = deliver_released(delivery, published[0])
    assert (stats.gave_up, stats.retried) == (1, 0)
    assert delivery.outbox.pending() == 0
    assert "gave up 1 callbacks" in caplog.text


def test_a_receipt_event_is_delivered_by_its_own_hand_off(
    store: MessageStore, delivery: CallbackDelivery, dispatcher: MemoryDispatcher, clock: Clock
) -> None:
    ids = _send(store, [UP], clock)
    deliver_new(delivery, ids)
    clock.seconds.advance(3)
    result = store.apply_receipts([ReceiptRecord("alpha", ("c",), "delivered")], clock())
    assert deliver_new(delivery, handoff_batches(result.changes)[0]).delivered == 1
    statuses = [orjson.loads(body)["status"] for _, body in dispatcher.posted]
    assert statuses == ["sent", "delivered"]
