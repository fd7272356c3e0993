"""The per-batch writes of the send path, in a generic and a PostgreSQL form.

Generic (SQLite): SQLAlchemy executemany and IN lists. On PostgreSQL those render new SQL for
every batch size (psycopg re-parses it each time; SQL over 4 kB is never cached) and process
each row in Python: about 0.3 ms of client CPU per message at the send path's group sizes. The
PostgreSQL form is one fixed statement per step with the batch's rows as arrays that `unnest`
turns into a table: the same text every time, so psycopg prepares it after five runs and the
server neither parses nor plans it again. Each array goes as one literal built by
`store.pg_arrays` (psycopg dumps a list element by element in Python, ~1-3 µs an element).

Plans stay on the primary key whatever the statistics say: rows are picked with
`id = ANY(:ids)` and status is tested through an expression no index covers.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    String,
    bindparam,
    case,
    func,
    insert,
    select,
    true,
    update,
)

from messaging import Status
from store.models import Attempt, Message, Part, naive_utc
from store.open_status import OPEN_STATUSES, is_open, status_of_row
from store.pg_arrays import (
    array_param,
    bool_array,
    int_array,
    numeric_array,
    text_array,
    timestamp_array,
)
from store.records import NewMessage


@dataclass(frozen=True)
class AttemptRow:
    """One attempt to insert."""

    message_id: str
    number: int
    carrier: str
    route: str
    cost: Decimal
    currency: str
    submit_status: str
    error_code: str | None
    resubmitted_after_crash: bool = False


@dataclass(frozen=True)
class PartRow:
    """One segment of an accepted attempt."""

    attempt_id: int
    message_id: str
    carrier: str
    segment: int
    carrier_message_id: str


@dataclass(frozen=True)
class OutcomeRow:
    """A message's new state after a send (applied only while it is still `sending`)."""

    message_id: str
    status: str
    error_code: str | None
    attempt_count: int
    sent_at: datetime | None
    final_at: datetime | None
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class CurrentRow:
    """What writing a message's outcome needs to know of it now."""

    id: str
    attempt_count: int
    callback_url: str | None
    status: str
    lease_owner: str | None
    account_id: str = ""

    def held_by(self, lease_owner: str) -> bool:
        """True while the batch of `lease_owner` still holds this row."""
        return self.status == Status.SENDING.value and self.lease_owner == lease_owner


# Locked in id order (as the sweeper takes rows back), so two writers never deadlock.
_CURRENT = """
SELECT id, attempt_count, callback_url, coalesce(status, ''), lease_owner, account_id
FROM messages WHERE id = ANY(%(ids)s::varchar[]) ORDER BY id FOR UPDATE
"""
_INSERT_ATTEMPTS = """
INSERT INTO attempts (message_id, number, carrier, route, cost, currency, submit_status,
                      error_code, resubmitted_after_crash, submitted_at)
SELECT a.*, %(now)s::timestamp
FROM unnest(%(message_id)s::varchar[], %(number)s::int[], %(carrier)s::varchar[],
            %(route)s::varchar[], %(cost)s::numeric[], %(currency)s::varchar[],
            %(submit_status)s::varchar[], %(error_code)s::varchar[],
            %(resubmitted)s::boolean[]) AS a
RETURNING id, message_id, number
"""
_INSERT_PARTS = """
INSERT INTO parts (attempt_id, message_id, carrier, segment, carrier_message_id)
SELECT * FROM unnest(%(attempt_id)s::int[], %(message_id)s::varchar[], %(carrier)s::varchar[],
                     %(segment)s::int[], %(carrier_message_id)s::varchar[])
"""
_UPDATE_OUTCOMES = """
UPDATE messages SET status = o.status, error_code = o.error_code,
       attempt_count = o.attempt_count, sent_at = o.sent_at, final_at = o.final_at,
       next_attempt_at = o.next_attempt_at, updated_at = %(now)s::timestamp,
       recovered = false, lease_until = NULL
FROM unnest(%(id)s::varchar[], %(status)s::varchar[], %(error_code)s::varchar[],
            %(attempt_count)s::int[], %(sent_at)s::timestamp[], %(final_at)s::timestamp[],
            %(next_attempt_at)s::timestamp[])
     AS o(id, status, error_code, attempt_count, sent_at, final_at, next_attempt_at)
WHERE messages.id = o.id AND messages.id = ANY(%(id)s::varchar[])
  AND coalesce(messages.status, '') = 'sending'
"""


_INSERT_MESSAGES = """
INSERT INTO messages (id, account_id, "to", sender, body, message_class, encoding, segments,
                      status, callback_url, callback_events, callback_batch, attempt_count,
                      created_at, updated_at, valid_until)
SELECT m.id, m.account_id, m.to, m.sender, m.body, m.message_class, m.encoding, m.segments,
       %(status)s, m.callback_url, m.callback_events, m.callback_batch, 0,
       m.created_at, m.created_at, m.valid_until
FROM unnest(%(id)s::varchar[], %(account_id)s::varchar[], %(to)s::varchar[],
            %(sender)s::varchar[], %(body)s::text[], %(message_class)s::varchar[],
            %(encoding)s::varchar[], %(segments)s::int[], %(callback_url)s::text[],
            %(callback_events)s::varchar[], %(callback_batch)s::boolean[],
            %(created_at)s::timestamp[], %(valid_until)s::timestamp[])
     AS m(id, account_id, "to", sender, body, message_class, encoding, segments, callback_url,
          callback_events, callback_batch, created_at, valid_until)
"""


# Rows from which a group is inserted by COPY on PostgreSQL: psycopg formats a COPY row in C,
# while binding thirteen arrays walks every element in Python (`ListDumper`, 17% of the API's
# CPU on batches of 1,000). Below it, the one-statement INSERT, which needs no extra round trip.
COPY_FROM_ROWS = 64
_COPY_MESSAGES = """
COPY messages (id, account_id, "to", sender, body, message_class, encoding, segments, status,
               callback_url, callback_events, callback_batch, attempt_count, created_at,
               updated_at, valid_until) FROM STDIN
"""


def _copy_messages(conn: Connection, rows: Sequence[NewMessage]) -> None:
    """COPY the rows in the caller's transaction (psycopg's cursor on the same connection)."""
    queued = Status.QUEUED.value
    driver = conn.connection.driver_connection
    assert driver is not None  # an open connection: the caller's transaction holds it
    with driver.cursor() as cursor, cursor.copy(_COPY_MESSAGES) as copy:
        for r in rows:
            created = naive_utc(r.created_at)
            copy.write_row(
                (
                    r.id,
                    r.account_id,
                    r.to,
                    r.sender,
                    r.body,
                    r.message_class,
                    r.encoding,
                    r.segments,
                    queued,
                    r.callback_url,
                    r.callback_events,
                    r.callback_batch,
                    0,
                    created,
                    created,
                    naive_utc(r.valid_until),
                )
            )


def insert_messages(conn: Connection, rows: Sequence[NewMessage]) -> None:
    """Insert accepted messages as `queued` (PostgreSQL: one fixed statement over arrays, or a
    COPY for a large group)."""
    if not rows:
        return
    if _postgresql(conn) and len(rows) >= COPY_FROM_ROWS:
        _copy_messages(conn, rows)
        return
    if _postgresql(conn):
        conn.exec_driver_sql(
            _INSERT_MESSAGES,
            {
                "status": Status.QUEUED.value,
                "id": text_array([r.id for r in rows]),
                "account_id": text_array([r.account_id for r in rows]),
                "to": text_array([r.to for r in rows]),
                "sender": text_array([r.sender for r in rows]),
                "body": text_array([r.body for r in rows]),
                "message_class": text_array([r.message_class for r in rows]),
                "encoding": text_array([r.encoding for r in rows]),
                "segments": int_array([r.segments for r in rows]),
                "callback_url": text_array([r.callback_url for r in rows]),
                "callback_events": text_array([r.callback_events for r in rows]),
                "callback_batch": bool_array([r.callback_batch for r in rows]),
                "created_at": timestamp_array([r.created_at for r in rows]),
                "valid_until": timestamp_array([r.valid_until for r in rows]),
            },
        )
        return
    conn.execute(
        insert(Message),
        [
            {
                "id": r.id,
                "account_id": r.account_id,
                "to": r.to,
                "sender": r.sender,
                "body": r.body,
                "message_class": r.message_class,
                "encoding": r.encoding,
                "segments": r.segments,
                "status": Status.QUEUED.value,
                "callback_url": r.callback_url,
                "callback_events": r.callback_events,
                "callback_batch": r.callback_batch,
                "attempt_count": 0,
                "created_at": r.created_at,
                "updated_at": r.created_at,
                "valid_until": r.valid_until,
            }
            for r in rows
        ],
    )


def _postgresql(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def current(conn: Connection, ids: Sequence[str]) -> dict[str, CurrentRow]:
    """Message id → its count of attempts, callback, status and lease, rows locked until the
    transaction ends (SQLite: the transaction already holds the one write lock)."""
    if _postgresql(conn):
        rows: Sequence[Any] = conn.exec_driver_sql(_CURRENT, {"ids": text_array(ids)}).all()
    else:
        rows = conn.execute(
            select(
                Message.id,
                Message.attempt_count,
                Message.callback_url,
                status_of_row(),
                Message.lease_owner,
                Message.account_id,
            ).where(Message.id.in_(ids))
        ).all()
    return {r[0]: CurrentRow(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows}


def insert_attempts(conn: Connection, rows: Sequence[AttemptRow], now: datetime) -> list[int]:
    """Insert attempts; their ids, in the order of `rows`."""
    if not rows:
        return []
    if _postgresql(conn):
        params: dict[str, Any] = {
            "now": naive_utc(now),
            "message_id": text_array([r.message_id for r in rows]),
            "number": int_array([r.number for r in rows]),
            "carrier": text_array([r.carrier for r in rows]),
            "route": text_array([r.route for r in rows]),
            "cost": numeric_array([r.cost for r in rows]),
            "currency": text_array([r.currency for r in rows]),
            "submit_status": text_array([r.submit_status for r in rows]),
            "error_code": text_array([r.error_code for r in rows]),
            "resubmitted": bool_array([r.resubmitted_after_crash for r in rows]),
        }
        # (message_id, number) is unique: it tells which id went to which row.
        ids = {(m, n): i for i, m, n in conn.exec_driver_sql(_INSERT_ATTEMPTS, params).all()}
        return [ids[(r.message_id, r.number)] for r in rows]
    values = [{**r.__dict__, "submitted_at": now} for r in rows]
    statement = insert(Attempt).returning(Attempt.id, sort_by_parameter_order=True)
    return list(conn.execute(statement, values).scalars().all())


def insert_parts(conn: Connection, rows: Sequence[PartRow]) -> None:
    """Insert the parts of accepted attempts."""
    if not rows:
        return
    if _postgresql(conn):
        params = {
            "attempt_id": int_array([r.attempt_id for r in rows]),
            "message_id": text_array([r.message_id for r in rows]),
            "carrier": text_array([r.carrier for r in rows]),
            "segment": int_array([r.segment for r in rows]),
            "carrier_message_id": text_array([r.carrier_message_id for r in rows]),
        }
        conn.exec_driver_sql(_INSERT_PARTS, params)
        return
    conn.execute(insert(Part), [r.__dict__ for r in rows])


def update_outcomes(conn: Connection, rows: Sequence[OutcomeRow], now: datetime) -> None:
    """Set each message's new state, where it is still `sending` (the sweeper may have taken
    it back meanwhile)."""
    if not rows:
        return
    if _postgresql(conn):
        params = {
            "now": naive_utc(now),
            "id": text_array([r.message_id for r in rows]),
            "status": text_array([r.status for r in rows]),
            "error_code": text_array([r.error_code for r in rows]),
            "attempt_count": int_array([r.attempt_count for r in rows]),
            "sent_at": timestamp_array([r.sent_at for r in rows]),
            "final_at": timestamp_array([r.final_at for r in rows]),
            "next_attempt_at": timestamp_array([r.next_attempt_at for r in rows]),
        }
        conn.exec_driver_sql(_UPDATE_OUTCOMES, params)
        return
    conn.execute(
        update(Message)
        .where(Message.id == bindparam("b_id"), status_of_row() == Status.SENDING.value)
        .values(
            status=bindparam("b_status"),
            error_code=bindparam("b_error"),
            attempt_count=bindparam("b_count"),
            sent_at=bindparam("b_sent"),
            final_at=bindparam("b_final"),
            next_attempt_at=bindparam("b_next"),
            updated_at=now,
            recovered=False,
            lease_until=None,
        ),
        [
            {
                "b_id": r.message_id,
                "b_status": r.status,
                "b_error": r.error_code,
                "b_count": r.attempt_count,
                "b_sent": r.sent_at,
                "b_final": r.final_at,
                "b_next": r.next_attempt_at,
            }
            for r in rows
        ],
    )


# -- receipts ------------------------------------------------------------------------------


@functools.cache
def _parts_by_key_statement(postgresql: bool) -> Select[*tuple[Any, ...]]:
    """Parts with any of the (carrier, carrier message id) pairs `:carriers`/`:ids`; built once.

    On PostgreSQL each pair looks up its newest part through a LATERAL subquery with LIMIT 1:
    one probe of the two-column index per pair whatever the planner believes of the table.
    Written as `carrier IN (…) AND carrier_message_id IN (…)` (or as a plain join), a planner
    whose statistics predate the traffic (`parts` grows by hundreds of rows a second) read
    every part of the carrier for each receipt batch: 16 to 55 ms at 35k parts, growing with
    the table. SQLite looks both IN lists up in the same index by itself.
    """
    columns = (
        Part.id,
        Part.attempt_id,
        Part.message_id,
        Part.carrier,
        Part.carrier_message_id,
        Part.receipt_state,
    )
    if not postgresql:
        return (
            select(*columns)
            .where(
                Part.carrier.in_(bindparam("carriers", expanding=True)),
                Part.carrier_message_id.in_(bindparam("ids", expanding=True)),
            )
            .order_by(Part.id.desc())
        )
    pairs = (
        func.unnest(array_param("carriers", String()), array_param("ids", String()))
        .table_valued("carrier", "carrier_message_id")
        .render_derived(name="pairs")
    )
    newest = (
        select(*columns)
        .where(
            Part.carrier == pairs.c.carrier,
            Part.carrier_message_id == pairs.c.carrier_message_id,
        )
        .order_by(Part.id.desc())  # carriers recycle ids: the newest part wins
        .limit(1)
        .lateral("newest")
    )
    return select(newest).select_from(pairs).join(newest, true())


def parts_by_key(conn: Connection, keys: Sequence[tuple[str, str]]) -> Sequence[Any]:
    """Parts with any of these (carrier, carrier message id) pairs (on PostgreSQL, only the
    newest part of each pair)."""
    postgresql = _postgresql(conn)
    carriers, ids = [c for c, _ in keys], [i for _, i in keys]
    params: dict[str, str | list[str]] = (
        {"carriers": text_array(carriers), "ids": text_array(ids)}
        if postgresql
        else {"carriers": carriers, "ids": ids}
    )
    return conn.execute(_parts_by_key_statement(postgresql), params).all()


_SET_PART_RECEIPTS = """
UPDATE parts SET receipt_state = r.state, receipt_error = r.error, receipt_stat = r.stat,
       receipt_at = %(now)s::timestamp
FROM unnest(%(id)s::int[], %(state)s::varchar[], %(error)s::varchar[], %(stat)s::varchar[])
     AS r(id, state, error, stat)
WHERE parts.id = r.id AND parts.id = ANY(%(id)s::int[]) AND parts.receipt_state IS NULL
"""
# One index probe per attempt (OFFSET 0 keeps the subquery a loop): `attempt_id = ANY(…)` was
# planned, on stale statistics, as a scan of every part (4 ms a batch at 20,000 parts).
_PARTS_OF_ATTEMPTS = """
SELECT p.attempt_id, p.message_id, p.receipt_state, p.receipt_stat
FROM unnest(%(ids)s::int[]) AS a(id)
CROSS JOIN LATERAL (SELECT attempt_id, message_id, receipt_state, receipt_stat FROM parts
                    WHERE parts.attempt_id = a.id OFFSET 0) AS p
"""
_SET_ATTEMPT_RECEIPTS = """
UPDATE attempts SET receipt_state = r.state, receipt_stat = r.stat, receipt_at = %(now)s::timestamp
FROM unnest(%(id)s::int[], %(state)s::varchar[], %(stat)s::varchar[]) AS r(id, state, stat)
WHERE attempts.id = r.id AND attempts.id = ANY(%(id)s::int[])
"""
_OPEN_MESSAGES = """
SELECT id, callback_url, message_class, attempt_count, valid_until, account_id FROM messages
WHERE id = ANY(%(ids)s::varchar[]) AND coalesce(status, '') = ANY(%(open)s::varchar[])
"""
_SETTLE_MESSAGES = """
UPDATE messages SET status = s.status,
       final_at = greatest(%(now)s::timestamp, messages.sent_at),
       updated_at = %(now)s::timestamp
FROM unnest(%(id)s::varchar[], %(status)s::varchar[]) AS s(id, status)
WHERE messages.id = s.id AND messages.id = ANY(%(id)s::varchar[])
  AND coalesce(messages.status, '') = ANY(%(open)s::varchar[])
"""


_OPEN = text_array(OPEN_STATUSES)


@dataclass(frozen=True)
class OpenMessage:
    """What settling a message by receipt needs to know of it."""

    id: str
    callback_url: str | None
    message_class: str
    attempt_count: int
    valid_until: datetime
    account_id: str = ""


def set_part_receipts(
    conn: Connection, rows: Sequence[tuple[int, str, str | None, str | None]], now: datetime
) -> None:
    """(part id, receipt state, error, raw stat) for parts that have no receipt yet."""
    if not rows:
        return
    if _postgresql(conn):
        params = {
            "now": naive_utc(now),
            "id": int_array([r[0] for r in rows]),
            "state": text_array([r[1] for r in rows]),
            "error": text_array([r[2] for r in rows]),
            "stat": text_array([r[3] for r in rows]),
        }
        conn.exec_driver_sql(_SET_PART_RECEIPTS, params)
        return
    conn.execute(
        update(Part)
        .where(Part.id == bindparam("b_id"), Part.receipt_state.is_(None))
        .values(
            receipt_state=bindparam("b_state"),
            receipt_error=bindparam("b_err"),
            receipt_stat=bindparam("b_stat"),
            receipt_at=now,
        ),
        [
            {"b_id": i, "b_state": state, "b_err": error, "b_stat": stat}
            for i, state, error, stat in rows
        ],
    )


def parts_of_attempts(
    conn: Connection, attempt_ids: Sequence[int]
) -> list[tuple[int, str, str | None, str | None]]:
    """(attempt id, message id, receipt state, raw stat) of every part of these attempts."""
    if _postgresql(conn):
        rows: Sequence[Any] = conn.exec_driver_sql(
            _PARTS_OF_ATTEMPTS, {"ids": int_array(attempt_ids)}
        ).all()
    else:
        rows = conn.execute(
            select(Part.attempt_id, Part.message_id, Part.receipt_state, Part.receipt_stat).where(
                Part.attempt_id.in_(list(attempt_ids))
            )
        ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def set_attempt_receipts(
    conn: Connection, rows: Sequence[tuple[int, str, str | None]], now: datetime
) -> None:
    """(attempt id, receipt state, raw stat) of settled attempts."""
    if not rows:
        return
    if _postgresql(conn):
        params = {
            "now": naive_utc(now),
            "id": int_array([r[0] for r in rows]),
            "state": text_array([r[1] for r in rows]),
            "stat": text_array([r[2] for r in rows]),
        }
        conn.exec_driver_sql(_SET_ATTEMPT_RECEIPTS, params)
        return
    conn.execute(
        update(Attempt)
        .where(Attempt.id == bindparam("b_id"))
        .values(
            receipt_state=bindparam("b_state"), receipt_stat=bindparam("b_stat"), receipt_at=now
        ),
        [{"b_id": i, "b_state": state, "b_stat": stat} for i, state, stat in rows],
    )


def open_messages(conn: Connection, ids: Sequence[str]) -> dict[str, OpenMessage]:
    """Those of `ids` still queued, sending or sent."""
    if _postgresql(conn):
        found = [
            OpenMessage(r[0], r[1], r[2], r[3], r[4].replace(tzinfo=UTC), r[5])
            for r in conn.exec_driver_sql(
                _OPEN_MESSAGES, {"ids": text_array(ids), "open": _OPEN}
            ).all()
        ]
    else:
        found = [
            OpenMessage(*r)
            for r in conn.execute(
                select(
                    Message.id,
                    Message.callback_url,
                    Message.message_class,
                    Message.attempt_count,
                    Message.valid_until,
                    Message.account_id,
                ).where(Message.id.in_(list(ids)), status_of_row().in_(OPEN_STATUSES))
            ).all()
        ]
    return {m.id: m for m in found}


def settle_messages(conn: Connection, rows: Sequence[tuple[str, str]], now: datetime) -> None:
    """(message id, final status) for messages still open.

    `final_at` is `now`, or the message's `sent_at` if that is later: a receipt batch reads
    `now` before its statements, and the outcome write it matched may have committed in
    between with a later clock (a final status never precedes `sent`).
    """
    if not rows:
        return
    if _postgresql(conn):
        params = {
            "now": naive_utc(now),
            "open": _OPEN,
            "id": text_array([r[0] for r in rows]),
            "status": text_array([r[1] for r in rows]),
        }
        conn.exec_driver_sql(_SETTLE_MESSAGES, params)
        return
    conn.execute(
        update(Message)
        .where(Message.id == bindparam("b_id"), is_open())
        .values(
            status=bindparam("b_status"),
            final_at=case((Message.sent_at > now, Message.sent_at), else_=now),
            updated_at=now,
        ),
        [{"b_id": i, "b_status": status} for i, status in rows],
    )
