"""Engine behaviour a deployment relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.exc import DBAPIError

from messaging import LeasePolicy, ResendPolicy
from store import (
    AttemptResult,
    CampaignStore,
    MessageStore,
    NewMessage,
    ReceiptRecord,
    SendOutcome,
    make_engine,
    new_id,
    upgrade,
)
from store.migrate import alembic_config
from tests.servers import Postgres

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _migrated(postgres: Postgres, name: str) -> Engine:
    """An engine on a new database `name` of the cluster, migrated to the newest schema."""
    url = postgres.create_database(name)
    upgrade(url)
    return make_engine(url)


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


class _Statements:
    """Records the statements (and parameters) an engine sends; EXPLAINs any of them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[tuple[str, Any]] = []

    def __enter__(self) -> _Statements:
        event.listen(self.engine, "before_cursor_execute", self._capture)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._capture)

    def _capture(self, _c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.seen.append((statement, parameters))

    def plan(self, starts: str, contains: str = "", generic: bool = False) -> list[dict[str, Any]]:
        """The plan nodes of the first recorded statement that starts with `starts` (and
        contains `contains`), for its first parameter set, without running it. `generic`: the
        plan made without the values, as for a statement the driver has prepared (psycopg
        prepares one after 5 runs)."""
        statement, parameters = next(
            (s, p) for s, p in self.seen if s.lstrip().startswith(starts) and contains in s
        )
        return self.explain(statement, parameters, generic)

    def explain(
        self, statement: str, parameters: Any, generic: bool = False
    ) -> list[dict[str, Any]]:
        """The plan nodes of `statement` with `parameters`, without running it."""
        if isinstance(parameters, list):  # executemany: one row's parameters
            parameters = parameters[0]
        with self.engine.connect() as conn:
            if generic:
                conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
            plan = conn.exec_driver_sql(
                "EXPLAIN (FORMAT JSON) " + statement, parameters
            ).scalar_one()
            conn.rollback()
        return _plan_nodes(plan[0]["Plan"])


def _scans(nodes: list[dict[str, Any]]) -> set[tuple[str, Any]]:
    return {(n["Node Type"], n.get("Index Name")) for n in nodes if "Scan" in n["Node Type"]}


def _claim_scans(store: MessageStore, ids: list[str], fill_class: str) -> set[tuple[str, Any]]:
    """Claim, then EXPLAIN the very statement and parameters the claim sent."""
    with _Statements(store.engine) as sent:
        claimed = store.claim(ids, NOW, fill_class, 200)
    assert [c.id for c in claimed[: len(ids)]] == ids
    return _scans(sent.plan("WITH own"))


def test_claim_keeps_its_indexes_when_statistics_predate_the_backlog(
    postgres: Postgres,
) -> None:
    """Statistics taken while nothing was queued, then a backlog arrives (faster than
    autovacuum re-analyzes): claims still go by primary key and the claim index, never
    through every queued row — for one OTP and for a bulk task of 50 ids alike."""
    engine = _migrated(postgres, "stale_statistics")
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
    # A bulk task's ids: a small table may rightly be read whole, or its ids gathered from the
    # primary key as a bitmap, but never through a status index (the plan stale statistics
    # made, which read every queued row of a backlog).
    bulk = _claim_scans(store, [m.id for m in backlog[:50]], "marketing")
    bitmaps = {name for kind, name in bulk if kind == "Bitmap Index Scan"}
    assert bitmaps <= {"messages_pkey"}, bitmaps
    assert ("Index Scan", "ix_messages_status_updated") not in otp | bulk
    engine.dispose()


def _sent(message_id: str, carrier_message_id: str) -> SendOutcome:
    attempt = AttemptResult(
        "alpha", "default", Decimal("0.03"), "EUR", True, None, (carrier_message_id,)
    )
    return SendOutcome(message_id, (attempt,), "sent")


def test_receipts_and_outcomes_go_by_key_when_statistics_predate_the_traffic(
    postgres: Postgres,
) -> None:
    """Statistics taken on a nearly empty database, then 5,000 messages are sent (faster than
    autovacuum re-analyzes): a receipt batch probes the parts index once per carrier message
    id (never the carrier's every part), and the statements that reach messages by id and
    test their status never walk a status index (a small table may rightly be read whole)."""
    engine = _migrated(postgres, "stale_statistics_receipts")
    try:
        store = MessageStore(engine)
        account = store.ensure_account("acme", NOW)
        first = [_row(account, "marketing", i) for i in range(20)]
        store.insert_messages(first)
        store.claim([m.id for m in first], NOW)
        store.record_outcomes([_sent(m.id, f"a{i}") for i, m in enumerate(first)], NOW)
        with engine.connect() as conn:
            conn.exec_driver_sql("analyze")
            conn.commit()
        traffic = [_row(account, "marketing", i) for i in range(5000)]
        store.insert_messages(traffic)
        sent = store.claim([m.id for m in traffic], NOW)
        assert len(sent) == 5000
        written = [_sent(m.id, f"{i:x}") for i, m in enumerate(traffic)]
        with _Statements(engine) as outcomes:  # a group as the send path writes them
            store.record_outcomes(written[:100], NOW)
        store.record_outcomes(written[100:], NOW)
        for generic in (False, True):  # never through a status index (every open message)
            update = _scans(outcomes.plan("UPDATE messages", generic=generic))
            assert not [name for _, name in update if name and "status" in name]
        receipts = [ReceiptRecord("alpha", (f"{i:x}",), "delivered") for i in range(0, 5000, 10)]
        with _Statements(engine) as applied:
            result = store.apply_receipts(receipts, NOW)
        assert result.matched == 500
        lookup = applied.plan("SELECT", "FROM parts")
        parts = [n for n in lookup if n.get("Relation Name") == "parts" or "Index Name" in n]
        assert parts and not [n for n in parts if "Seq" in n["Node Type"]]
        assert all("carrier_message_id" in n.get("Index Cond", "") for n in parts), parts
        # The messages a batch settles, by id: a small table may rightly be read whole, but never
        # through a status index (which walks every open message).
        siblings = applied.plan("SELECT p.attempt_id")  # every part of the settled attempts
        assert not [n for n in siblings if "Seq" in n["Node Type"]]
        settle = applied.plan("SELECT id, callback_url")
        assert not [name for _, name in _scans(settle) if name and "status" in name]
    finally:
        engine.dispose()


def test_statements_are_planned_with_their_values_and_pgoptions_are_kept(
    postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psycopg prepares a statement after five runs; a generic plan PostgreSQL made while a
    table was nearly empty would then outlive the table's growth. Every connection plans each
    statement with its values, and an operator's PGOPTIONS still apply."""
    monkeypatch.setenv("PGOPTIONS", "-c work_mem=7MB")
    engine = make_engine(postgres.create_database("custom_plans"))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("show plan_cache_mode").scalar() == "force_custom_plan"
            assert conn.exec_driver_sql("show work_mem").scalar() == "7MB"
    finally:
        engine.dispose()


def _foreign_keys(url: str) -> set[tuple[str, str]]:
    """(table, column) of every foreign key on the message tables."""
    engine = make_engine(url)
    inspector = inspect(engine)
    keys = {
        (table, column)
        for table in ("messages", "attempts", "parts")
        for key in inspector.get_foreign_keys(table)
        for column in key["constrained_columns"]
    }
    engine.dispose()
    return keys


def test_postgresql_checks_no_foreign_key_on_the_send_path_inserts_and_downgrades_restore_them(
    postgres: Postgres,
) -> None:
    url = postgres.create_database("hot_foreign_keys")
    upgrade(url)
    assert _foreign_keys(url) == set()
    command.downgrade(alembic_config(url), "0019")  # 0022's down step puts its two back
    assert _foreign_keys(url) == {("attempts", "message_id"), ("parts", "attempt_id")}
    command.downgrade(alembic_config(url), "0017")  # and 0019's its two
    assert _foreign_keys(url) == {
        ("messages", "account_id"),
        ("attempts", "message_id"),
        ("parts", "attempt_id"),
        ("parts", "message_id"),
    }


def _index_tuples(engine: Engine, *names: str) -> dict[str, int]:
    """How many entries each index (or table) holds, as VACUUM counted them."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE messages")
        rows = conn.execute(
            text("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(:names)"),
            {"names": list(names)},
        ).all()
    return {str(name): int(n) for name, n in rows}


def test_the_status_indexes_hold_only_open_messages_and_the_queue_still_reads_them(
    postgres: Postgres,
) -> None:
    """4,000 delivered messages and 30 open ones: the two status indexes hold the 30 (a
    campaign's load and a message turning final write no entry in them), and every statement
    the queue runs over them — the claim's fill, the backlog counts, the sweeper, the receipt
    and resend scans — still reads an index, never the whole table."""
    engine = _migrated(postgres, "open_status_indexes")
    try:
        store = MessageStore(engine)
        account = store.ensure_account("acme", NOW)
        final = [_row(account, "marketing", i) for i in range(4000)]
        store.insert_messages(final)
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE messages SET status = 'delivered'")
        open_rows = [_row(account, "marketing", i) for i in range(30)]
        store.insert_messages(open_rows)
        store.claim([m.id for m in open_rows[:10]], NOW)  # 10 sending, 20 queued
        store.record_outcomes([_sent(m.id, f"s{i}") for i, m in enumerate(open_rows[:5])], NOW)
        status_indexes = ("ix_messages_status_updated", "ix_messages_status_class_created")
        tuples = _index_tuples(engine, "messages", *status_indexes)
        assert tuples == {"messages": 4030, **dict.fromkeys(status_indexes, 30)}
        later = NOW + timedelta(hours=2)  # every open message past its validity
        with _Statements(engine) as sent:
            store.claim([], NOW, "marketing", 5)
            assert store.queued_backlog() == 15  # the fill claimed 5 more
            assert CampaignStore(engine).marketing_backlog(NOW) == 15
            store.stranded(NOW + timedelta(minutes=1), NOW + timedelta(minutes=1))
            store.take_back(later, later, LeasePolicy())
            store.settle_partial_receipts(later, later, ["alpha"])
            store.silent_to_resend(later, later, ResendPolicy(frozenset({"marketing"})))
            assert len(store.expire_overdue(later)) == 30
        statements = [(s, p) for s, p in sent.seen if "status" in s and "FROM messages" in s]
        assert len(statements) >= 8, statements
        for statement, parameters in statements:
            scans = _scans(sent.explain(statement, parameters))
            assert not [kind for kind, _ in scans if kind == "Seq Scan"], (statement, scans)
    finally:
        engine.dispose()


def test_downgrading_0023_makes_the_status_indexes_whole_again(postgres: Postgres) -> None:
    url = postgres.create_database("open_status_indexes_down")
    upgrade(url)
    engine = make_engine(url)
    try:
        definitions = _status_index_definitions(engine)
        assert all("WHERE" in d and "'sent'" in d for d in definitions), definitions
        command.downgrade(alembic_config(url), "0022")
        assert not [d for d in _status_index_definitions(engine) if "WHERE" in d]
        upgrade(url)
        assert _status_index_definitions(engine) == definitions
    finally:
        engine.dispose()


def _status_index_definitions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [
            str(d)
            for d in conn.execute(
                text(
                    "SELECT indexdef FROM pg_indexes WHERE indexname IN"
                    " ('ix_messages_status_updated', 'ix_messages_status_class_created')"
                    " ORDER BY indexname"
                )
            ).scalars()
        ]
