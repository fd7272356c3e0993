"""Status reads for the API: many messages by id in one statement, and keyset-paged lists.

`read_messages` answers a group of `GET /v1/messages/{id}` at once: one statement joins each
message to its attempts and their parts (by `parts.attempt_id`, which is indexed; `parts` has no
index on `message_id`, and looking parts up by it was a scan of the table per GET).

`list_messages` pages over one account's messages in `(created_at, id)` order, the key of index
`ix_messages_account_created` (migration 0008): each page continues strictly after the last row
of the one before, so a message inserted meanwhile neither repeats a row nor pushes one out.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Row,
    Select,
    String,
    and_,
    any_,
    bindparam,
    func,
    or_,
    select,
)

from store.models import Attempt, Message, Part
from store.pg_arrays import array_param, text_array
from store.records import AttemptView, MessageSummary, MessageView

_SUMMARY_COLUMNS = (
    Message.id,
    Message.account_id,
    Message.to,
    Message.sender,
    Message.message_class,
    Message.encoding,
    Message.segments,
    Message.status,
    Message.error_code,
    Message.created_at,
    Message.updated_at,
    Message.sent_at,
    Message.final_at,
)


@functools.cache
def _read_statement(postgresql: bool) -> Select[*tuple[Any, ...]]:
    """Messages by id with their attempts and parts: one row per part (or attempt, or message).

    PostgreSQL gets the ids as an array: one text whatever the group's size (an IN list made a
    new one, parsed and planned again, for every size)."""
    wanted = (
        Message.id == any_(array_param("ids", String()))
        if postgresql
        else Message.id.in_(bindparam("ids", expanding=True))
    )
    return (
        select(
            *_SUMMARY_COLUMNS,
            Attempt.id.label("a_id"),
            Attempt.number.label("a_number"),
            Attempt.carrier.label("a_carrier"),
            Attempt.route.label("a_route"),
            Attempt.cost.label("a_cost"),
            Attempt.currency.label("a_currency"),
            Attempt.submit_status.label("a_submit_status"),
            Attempt.error_code.label("a_error_code"),
            Attempt.receipt_state.label("a_receipt_state"),
            Attempt.receipt_stat.label("a_receipt_stat"),
            Attempt.submitted_at.label("a_submitted_at"),
            Attempt.receipt_at.label("a_receipt_at"),
            Attempt.resubmitted_after_crash.label("a_resubmitted_after_crash"),
            Part.carrier_message_id.label("p_carrier_message_id"),
        )
        .select_from(Message)
        .outerjoin(Attempt, Attempt.message_id == Message.id)
        .outerjoin(Part, Part.attempt_id == Attempt.id)
        .where(wanted)
        .order_by(Message.id, Attempt.number, Part.segment)
    )


@functools.cache
def _list_statement(
    statuses: int, since: bool, until: bool, after: bool
) -> Select[*tuple[Any, ...]]:
    """One page of an account's messages in (created_at, id) order, built once per shape."""
    query = select(*_SUMMARY_COLUMNS).where(Message.account_id == bindparam("account_id"))
    if statuses:
        query = query.where(Message.status.in_(bindparam("statuses", expanding=True)))
    if since:
        query = query.where(Message.created_at >= bindparam("since", type_=Message.created_at.type))
    if until:
        query = query.where(Message.created_at < bindparam("until", type_=Message.created_at.type))
    if after:
        # `>=` first gives both planners an index range on (account_id, created_at); the OR only
        # filters the rows of that one timestamp.
        at = bindparam("after_at", type_=Message.created_at.type)
        query = query.where(
            Message.created_at >= at,
            or_(
                Message.created_at > at,
                and_(Message.created_at == at, Message.id > bindparam("after_id")),
            ),
        )
    return query.order_by(Message.created_at, Message.id).limit(bindparam("limit", type_=Integer))


def _summary(r: Row[Any]) -> MessageSummary:
    return MessageSummary(
        id=r.id,
        to=r.to,
        sender=r.sender,
        message_class=r.message_class,
        encoding=r.encoding,
        segments=r.segments,
        status=r.status,
        error_code=r.error_code,
        created_at=r.created_at,
        updated_at=r.updated_at,
        sent_at=r.sent_at,
        final_at=r.final_at,
    )


class MessageReads:
    """Read side of the message store for the API (mixed into MessageStore)."""

    engine: Engine
    _autocommit: Engine | None  # PostgreSQL: the engine in autocommit (set by MessageStore)

    def _reading(self) -> AbstractContextManager[Connection]:
        """A connection for one read statement. On PostgreSQL an autocommit one: a plain
        connection's statement opens a transaction that the pool rolls back on return, one more
        round trip per group of GETs."""
        if self._autocommit is not None:
            return self._autocommit.connect()
        return self.engine.connect()

    def queued_backlog(self, limit: int | None = None) -> int:
        """How many messages wait in `queued` (due or not): the outbox backlog, one count on the
        status index (metrics read it at scrape time). With `limit`, counted up to `limit + 1`
        only (a bounded scan: enough to tell "past the bound", for backpressure)."""
        inner = select(Message.id).where(Message.status == "queued")
        if limit is not None:
            inner = inner.limit(limit + 1)
        with self._reading() as conn:
            count = select(func.count()).select_from(inner.subquery())
            return int(conn.execute(count).scalar_one())

    def read_messages(self, keys: Sequence[tuple[str, str]]) -> list[MessageView | None]:
        """For each `(account_id, message_id)`, the message with its attempts, or None when it
        does not exist or belongs to another account. One statement for all of them."""
        if not keys:
            return []
        ids = sorted({message_id for _, message_id in keys})
        with self._reading() as conn:
            postgresql = conn.dialect.name == "postgresql"
            statement = _read_statement(postgresql)
            rows = conn.execute(statement, {"ids": text_array(ids) if postgresql else ids}).all()
        found: dict[str, tuple[str, MessageView]] = {}
        current: list[Row[Any]] = []
        for row in rows:
            if current and current[0].id != row.id:
                account_id, view = _view(current)
                found[view.id] = (account_id, view)
                current = []
            current.append(row)
        if current:
            account_id, view = _view(current)
            found[view.id] = (account_id, view)
        out: list[MessageView | None] = []
        for account_id, message_id in keys:
            hit = found.get(message_id)
            out.append(hit[1] if hit is not None and hit[0] == account_id else None)
        return out

    def list_messages(
        self,
        account_id: str,
        limit: int,
        statuses: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        after: tuple[datetime, str] | None = None,
    ) -> list[MessageSummary]:
        """Up to `limit` messages of `account_id` in (created_at, id) order, strictly after
        `after` (the key of the last row of the previous page), filtered by status and by
        `since <= created_at < until`."""
        params: dict[str, object] = {"account_id": account_id, "limit": limit}
        if statuses:
            params["statuses"] = list(statuses)
        if since is not None:
            params["since"] = since
        if until is not None:
            params["until"] = until
        if after is not None:
            params["after_at"], params["after_id"] = after
        statement = _list_statement(
            len(statuses), since is not None, until is not None, after is not None
        )
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # Only ix_messages_account_created gives this order, and the page must come off
                # it in that order, not as a bitmap scan of the whole account and a sort: an
                # account's rows appear faster than statistics follow (a seeded table, still
                # unanalysed, planned that way took 16 ms a page instead of 0.3).
                conn.exec_driver_sql("SET LOCAL enable_sort = off")
            return [_summary(row) for row in conn.execute(statement, params)]


def _view(rows: Sequence[Row[Any]]) -> tuple[str, MessageView]:
    """(account id, view) of one message from its joined rows (ordered by attempt, segment)."""
    first = rows[0]
    summary = _summary(first)
    attempts: list[AttemptView] = []
    ids: list[str] = []
    attempt_id: object = None
    for r in rows:
        if r.a_id is None:
            continue
        if r.a_id != attempt_id:
            if attempt_id is not None:
                attempts[-1] = _with_ids(attempts[-1], ids)
            attempt_id, ids = r.a_id, []
            attempts.append(
                AttemptView(
                    number=r.a_number,
                    carrier=r.a_carrier,
                    route=r.a_route,
                    cost=r.a_cost,
                    currency=r.a_currency,
                    submit_status=r.a_submit_status,
                    error_code=r.a_error_code,
                    receipt_state=r.a_receipt_state,
                    submitted_at=r.a_submitted_at,
                    receipt_at=r.a_receipt_at,
                    carrier_message_ids=(),
                    resubmitted_after_crash=bool(r.a_resubmitted_after_crash),
                    receipt_stat=r.a_receipt_stat,
                )
            )
        if r.p_carrier_message_id is not None:
            ids.append(r.p_carrier_message_id)
    if attempts:
        attempts[-1] = _with_ids(attempts[-1], ids)
    account_id: str = first.account_id
    return account_id, MessageView(**vars(summary), attempts=tuple(attempts))


def _with_ids(attempt: AttemptView, ids: list[str]) -> AttemptView:
    return replace(attempt, carrier_message_ids=tuple(ids))
