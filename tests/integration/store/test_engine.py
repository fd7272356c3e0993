"""Engine behaviour a deployment relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from store import MessageStore, NewMessage, make_engine, new_id, upgrade
from tests.servers import Postgres

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _row(account: str, message_class: str, i: int) -> NewMessage:
    return NewMessage(
        id=new_id(),
        account_id=account,
        to=f"+4474000{i:05d}",
        sender="Acme",
        body="hello",
        message_class=message_class,
        encoding="gsm7",
        segments=1,
        callback_url=None,
        created_at=NOW + timedelta(milliseconds=i),
        valid_until=NOW + timedelta(hours=1),
    )


def test_store_recovers_on_the_next_call_after_postgresql_drops_its_connections(
    postgres: Postgres,
) -> None:
    """No ping before each transaction (a round trip an OTP would wait for): a dropped
    connection fails the one call that finds it, the pool is renewed, the next call works."""
    url = postgres.create_database("dropped_connections")
    upgrade(url)
    store = MessageStore(make_engine(url))
    account = store.ensure_account("acme", NOW)
    admin = make_engine(url)
    with admin.connect() as conn:
        conn.exec_driver_sql(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = current_database() and pid <> pg_backend_pid()"
        )
    admin.dispose()
    with pytest.raises(DBAPIError) as dropped:
        store.ensure_account("acme", NOW)
    assert dropped.value.connection_invalidated
    assert store.ensure_account("acme", NOW) == account
    store.engine.dispose()


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += _plan_nodes(child)
    return nodes


def _claim_scans(store: MessageStore, ids: list[str], fill_class: str) -> set[tuple[str, Any]]:
    """Claim, then EXPLAIN the very statement and parameters the claim sent."""
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        claimed = store.claim(ids, NOW, fill_class, 200)
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    assert [c.id for c in claimed[: len(ids)]] == ids
    statement, parameters = next((s, p) for s, p in seen if "own" in s)
    with store.engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar()
        conn.rollback()
    nodes = _plan_nodes(plan[0]["Plan"])
    return {(n["Node Type"], n.get("Index Name")) for n in nodes if "Scan" in n["Node Type"]}


def test_claim_keeps_its_indexes_when_statistics_predate_the_backlog(
    postgres: Postgres,
) -> None:
    """Statistics taken while nothing was queued, then a backlog arrives (faster than
    autovacuum re-analyzes): claims still go by primary key and the claim index, never
    through every queued row — for one OTP and for a bulk task of 50 ids alike."""
    url = postgres.create_database("stale_statistics")
    upgrade(url)
    engine = make_engine(url)
    store = MessageStore(engine)
    account = store.ensure_account("acme", NOW)
    otps = [_row(account, "otp", i) for i in range(50)]
    store.insert_messages(otps)
    store.claim([m.id for m in otps[:40]], NOW)
    with engine.connect() as conn:
        conn.exec_driver_sql("analyze messages")
        conn.commit()
    backlog = [_row(account, "marketing", i) for i in range(5000)]
    store.insert_messages(backlog)
    otp = _claim_scans(store, [otps[45].id], "otp")
    assert ("Index Scan", "messages_pkey") in otp
    assert ("Index Scan", "ix_messages_status_class_created") in otp  # the fill, in order
    assert not [name for kind, name in otp if "Seq" in kind or "Bitmap" in kind]
    # A bulk task's ids: a small table may rightly be read whole, but never through a status
    # index (the plan stale statistics made, which read every queued row of a backlog).
    bulk = _claim_scans(store, [m.id for m in backlog[:50]], "marketing")
    assert not [name for kind, name in bulk if "Bitmap" in kind]
    assert ("Index Scan", "ix_messages_status_updated") not in otp | bulk
    engine.dispose()
