"""The callback outbox: status callbacks written with the status change, delivered from here.

`add_events(conn, changes, now)` runs inside the transaction that changes the statuses, so a
callback exists exactly when its status change does (ARCHITECTURE.md invariant 1, for
callbacks). `CallbackOutbox` is what the callbacks worker does with the rows afterwards: claim,
delete the delivered ones, schedule the failed ones, and let the sweep release what is due.

A row's `next_attempt_at` is when the sweep may hand it out again: `CALLBACK_HANDOFF_GRACE`
after it is written (the post-commit task normally takes it first), a lease while a task
delivers it (a dead worker's rows come back), the backoff after a failed POST. A task claims a
row only at the `attempts` count it was handed (or, for a new event, at 0): two tasks handed
the same row cannot both deliver it.

On PostgreSQL every statement has one fixed text whatever the batch size, rows as arrays
(`unnest`, `= ANY`), as in `store/batch_writes.py`; on SQLite executemany and IN lists.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    DateTime,
    Delete,
    Engine,
    Insert,
    Integer,
    Select,
    String,
    Update,
    any_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute

from messaging import CallbackEvent, CallbackScope, wants_event
from store.models import Attempt, CallbackEventRow, Message, UTCDateTime
from store.open_status import status_of_row
from store.pg_arrays import array_param, bool_array, int_array, text_array, timestamp_array
from store.records import PendingCallback, StatusChange

# Time the post-commit hand-off task has to claim a new event before the sweep hands it out
# too (a publish lost with Redis, or a callbacks queue this far behind).
CALLBACK_HANDOFF_GRACE = timedelta(seconds=30)

_INSERTED = (
    CallbackEventRow.message_id,
    CallbackEventRow.account_id,
    CallbackEventRow.url,
    CallbackEventRow.batch,
    CallbackEventRow.status,
    CallbackEventRow.error_code,
    CallbackEventRow.carrier,
    CallbackEventRow.segments,
    CallbackEventRow.cost,
    CallbackEventRow.currency,
    CallbackEventRow.to,
    CallbackEventRow.message_created_at,
    CallbackEventRow.sent_at,
    CallbackEventRow.final_at,
    CallbackEventRow.at,
    CallbackEventRow.attempts,
    CallbackEventRow.next_attempt_at,
    CallbackEventRow.created_at,
)
# `_pending` reads these by position: keep the two in step.
_CLAIMED = (
    CallbackEventRow.id,
    CallbackEventRow.account_id,
    CallbackEventRow.url,
    CallbackEventRow.batch,
    CallbackEventRow.attempts,
    CallbackEventRow.created_at,
    CallbackEventRow.message_id,
    CallbackEventRow.status,
    CallbackEventRow.error_code,
    CallbackEventRow.carrier,
    CallbackEventRow.segments,
    CallbackEventRow.cost,
    CallbackEventRow.currency,
    CallbackEventRow.to,
    CallbackEventRow.message_created_at,
    CallbackEventRow.sent_at,
    CallbackEventRow.final_at,
    CallbackEventRow.at,
    CallbackEventRow.body,
)


def _postgresql(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "postgresql"


def _any(
    column: InstrumentedAttribute[Any], name: str, item: type[Integer] | type[String]
) -> ColumnElement[bool]:
    """`column = ANY(:name)` on PostgreSQL (one text for every size; a `store.pg_arrays`
    literal)."""
    return column == any_(array_param(name, item()))


@functools.cache
def _insert_statement(postgresql: bool) -> Insert:
    """INSERT … SELECT the event of each (message id, status) from the message row as the
    transaction just wrote it; built once.

    The row must hold that status (a change another transaction overtook writes no event), and
    have a `callback_url`; `final` says whether a `callback_events="final"` message wants it.
    """
    now = bindparam("now", type_=UTCDateTime())
    if postgresql:
        source: Any = (
            func.unnest(
                array_param("id", String()),
                array_param("status", String()),
                array_param("final", Boolean()),
            )
            .table_valued("id", "status", "final")
            .render_derived(name="c")
        )
        status: Any = source.c.status
        final: Any = source.c.final
        picked = [Message.id == source.c.id, _any(Message.id, "id", String)]
    else:
        source = None
        status = bindparam("status", type_=String())
        final = bindparam("final", type_=Boolean())
        picked = [Message.id == bindparam("id", type_=String())]
    latest = (
        select(Attempt.carrier, Attempt.currency)
        .where(Attempt.message_id == Message.id)
        .order_by(Attempt.number.desc())
        .limit(1)
    )
    rows: Select[Any] = select(
        Message.id,
        Message.account_id,
        Message.callback_url,
        Message.callback_batch,
        status,
        Message.error_code,
        latest.with_only_columns(Attempt.carrier).scalar_subquery(),
        Message.segments,
        select(func.sum(Attempt.cost))
        .where(Attempt.message_id == Message.id, Attempt.submit_status == "accepted")
        .scalar_subquery(),
        latest.with_only_columns(Attempt.currency).scalar_subquery(),
        Message.to,
        Message.created_at,
        Message.sent_at,
        Message.final_at,
        # A final event happened when the row says it ended (see batch_writes.settle_messages).
        case((final, func.coalesce(Message.final_at, now)), else_=now),
        literal(0),
        bindparam("release", type_=UTCDateTime()),
        now,
    )
    if source is not None:
        rows = rows.select_from(source).join(Message, picked[0])
        picked = picked[1:]
    rows = rows.where(
        *picked,
        Message.callback_url.is_not(None),
        status_of_row() == status,
        or_(Message.callback_events != CallbackScope.FINAL.value, final),
    )
    return insert(CallbackEventRow).from_select(list(_INSERTED), rows)


def add_events(
    conn: Connection, changes: Sequence[StatusChange], now: datetime
) -> list[StatusChange]:
    """Write the callback events of `changes` in the caller's transaction (one statement on
    PostgreSQL); returns `changes`, each with the event written for it (`callback`).

    Only changes with a `callback_url` cost anything; messages whose `callback_events` is
    "final" get none for `sent`. A returned event counts as a first delivery begun
    (`attempts` 1): the writer may POST it at once (`workers.callback_pump`); the row itself
    stays at 0 attempts, so a hand-off task or the sweep can still take it.
    """
    wanted = [c for c in changes if c.callback_url]
    if not wanted:
        return list(changes)
    finals = [wants_event(CallbackScope.FINAL, c.status) for c in wanted]
    statement = _insert_returning(_postgresql(conn))
    common = {"now": now, "release": now + CALLBACK_HANDOFF_GRACE}
    if _postgresql(conn):
        rows = conn.execute(
            statement,
            {
                **common,
                "id": text_array([c.message_id for c in wanted]),
                "status": text_array([c.status for c in wanted]),
                "final": bool_array(finals),
            },
        ).all()
    else:  # SQLite: no RETURNING with executemany; a statement per event (in-process, cheap)
        rows = [
            row
            for c, final in zip(wanted, finals, strict=True)
            for row in conn.execute(
                statement, {**common, "id": c.message_id, "status": c.status, "final": final}
            ).all()
        ]
    written = {(p.event.id, p.event.status): p for p in (_pending(row, 1) for row in rows)}
    # Built field by field: dataclasses.replace inspects the fields on every call (it was more
    # than half of this function's CPU).
    return [
        StatusChange(
            c.message_id,
            c.status,
            c.callback_url,
            c.account_id,
            written.get((c.message_id, c.status)),
            c.carrier,
        )
        if c.callback_url
        else c
        for c in changes
    ]


@functools.cache
def _insert_returning(postgresql: bool) -> Insert:
    return _insert_statement(postgresql).returning(*_CLAIMED)


def _pending(row: Any, attempts: int | None = None) -> PendingCallback:
    """A `_CLAIMED` row as the event it holds (read by position: a Row's attribute lookup by
    name was a third of `add_events`' CPU). Columns 6 to 17 are `CallbackEvent`'s fields."""
    event_id, account_id, url, batch, row_attempts, created_at = row[:6]
    return PendingCallback(
        event_id,
        url,
        bool(batch),
        row_attempts if attempts is None else attempts,
        created_at,
        CallbackEvent(*row[6:18]),
        account_id,
        row[18],
    )


@functools.cache
def _claim_new_statement(postgresql: bool) -> Update:
    ids = (
        _any(CallbackEventRow.message_id, "ids", String)
        if postgresql
        else CallbackEventRow.message_id.in_(bindparam("ids", expanding=True))
    )
    return (
        update(CallbackEventRow)
        .where(ids, CallbackEventRow.attempts == 0)
        .values(
            attempts=CallbackEventRow.attempts + 1,
            next_attempt_at=bindparam("lease", type_=UTCDateTime()),
        )
        .returning(*_CLAIMED)
    )


@functools.cache
def _claim_statement(postgresql: bool) -> Update:
    lease = bindparam("lease", type_=UTCDateTime())
    values = {"attempts": CallbackEventRow.attempts + 1, "next_attempt_at": lease}
    if not postgresql:
        pairs = tuple_(CallbackEventRow.id, CallbackEventRow.attempts).in_(
            bindparam("pairs", expanding=True)
        )
        return update(CallbackEventRow).where(pairs).values(**values).returning(*_CLAIMED)
    refs = (
        func.unnest(array_param("ids", Integer()), array_param("counts", Integer()))
        .table_valued("id", "attempts")
        .render_derived(name="r")
    )
    return (
        update(CallbackEventRow)
        .where(
            CallbackEventRow.id == refs.c.id,
            CallbackEventRow.attempts == refs.c.attempts,
            _any(CallbackEventRow.id, "ids", Integer),
        )
        .values(**values)
        .returning(*_CLAIMED)
    )


@functools.cache
def _delete_statement(postgresql: bool) -> Delete:
    ids = (
        _any(CallbackEventRow.id, "ids", Integer)
        if postgresql
        else CallbackEventRow.id.in_(bindparam("ids", expanding=True))
    )
    return delete(CallbackEventRow).where(ids)


@functools.cache
def _reschedule_statement(postgresql: bool, first: bool = False) -> Update:
    """Set each event's `next_attempt_at`. With `first`, the event's first delivery (by the
    writer, `settle_fresh`) failed: it is counted too, unless someone else took the row
    meanwhile (its attempts no longer 0)."""
    values: dict[str, Any] = {"attempts": 1} if first else {}
    guard = [CallbackEventRow.attempts == 0] if first else []
    if postgresql:
        plan = (
            func.unnest(
                array_param("ids", Integer()),
                array_param("times", DateTime()),
            )
            .table_valued("id", "at")
            .render_derived(name="p")
        )
        return (
            update(CallbackEventRow)
            .where(
                CallbackEventRow.id == plan.c.id, _any(CallbackEventRow.id, "ids", Integer), *guard
            )
            .values(next_attempt_at=plan.c.at, **values)
        )
    return (
        update(CallbackEventRow)
        .where(CallbackEventRow.id == bindparam("b_id"), *guard)
        .values(next_attempt_at=bindparam("b_at", type_=UTCDateTime()), **values)
    )


class CallbackOutbox:
    """The callback events still to deliver, over an engine; each method one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pg = _postgresql(engine)

    def _texts(self, values: Sequence[str]) -> str | list[str]:
        return text_array(values) if self._pg else list(values)

    def claim_new(self, message_ids: Sequence[str], lease_until: datetime) -> list[PendingCallback]:
        """Take the not-yet-tried events of these messages, leased until `lease_until`."""
        if not message_ids:
            return []
        with self.engine.begin() as conn:
            rows = conn.execute(
                _claim_new_statement(self._pg),
                {"ids": self._texts(message_ids), "lease": lease_until},
            ).all()
        return sorted((_pending(r) for r in rows), key=lambda p: p.event_id)

    def claim(
        self, refs: Sequence[tuple[int, int]], lease_until: datetime
    ) -> list[PendingCallback]:
        """Take events by (event id, attempts as handed out); one already taken is skipped."""
        if not refs:
            return []
        params: dict[str, Any] = {"lease": lease_until}
        if self._pg:
            params |= {
                "ids": int_array(i for i, _ in refs),
                "counts": int_array(n for _, n in refs),
            }
        else:
            params["pairs"] = [(i, n) for i, n in refs]
        with self.engine.begin() as conn:
            rows = conn.execute(_claim_statement(self._pg), params).all()
        return sorted((_pending(r) for r in rows), key=lambda p: p.event_id)

    def settle(
        self,
        delivered: Sequence[int],
        retry: Sequence[tuple[int, datetime]],
        dropped: Sequence[int] = (),
    ) -> None:
        """Delete delivered and given-up events (one statement), reschedule the failed ones."""
        self._settle([*delivered, *dropped], retry, first=False)

    def settle_fresh(self, delivered: Sequence[int], retry: Sequence[tuple[int, datetime]]) -> None:
        """After first deliveries the writer made from `add_events`' rows (never claimed):
        delete the delivered, count and schedule the failed (one transaction)."""
        self._settle(delivered, retry, first=True)

    def _settle(
        self, gone: Sequence[int], retry: Sequence[tuple[int, datetime]], first: bool
    ) -> None:
        if not gone and not retry:
            return
        statement = _reschedule_statement(self._pg, first)
        with self.engine.begin() as conn:
            if gone:
                ids = int_array(gone) if self._pg else list(gone)
                conn.execute(_delete_statement(self._pg), {"ids": ids})
            if retry and self._pg:
                conn.execute(
                    statement,
                    {
                        "ids": int_array(i for i, _ in retry),
                        "times": timestamp_array(at for _, at in retry),
                    },
                )
            elif retry:
                conn.execute(statement, [{"b_id": i, "b_at": at} for i, at in retry])

    def release_due(self, now: datetime, hold_until: datetime, limit: int) -> list[tuple[int, int]]:
        """(event id, attempts) of up to `limit` events due by `now`, oldest due first; each is
        held until `hold_until` so the next sweep does not hand it out again meanwhile."""
        query = (
            select(CallbackEventRow.id, CallbackEventRow.attempts)
            .where(CallbackEventRow.next_attempt_at <= now)
            .order_by(CallbackEventRow.next_attempt_at)
            .limit(limit)
        )
        if self._pg:
            query = query.with_for_update(skip_locked=True)  # rows a task is claiming
        with self.engine.begin() as conn:
            rows = [(int(r.id), int(r.attempts)) for r in conn.execute(query).all()]
            if rows:
                conn.execute(
                    update(CallbackEventRow)
                    .where(CallbackEventRow.id.in_([i for i, _ in rows]))
                    .values(next_attempt_at=hold_until)
                )
        return rows

    def pending(self) -> int:
        """How many events are not delivered yet."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(CallbackEventRow)).scalar_one()
            )
