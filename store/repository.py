"""The message store: batched reads and writes the API and workers need, one transaction each."""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Connection,
    Engine,
    Integer,
    Select,
    String,
    Update,
    all_,
    any_,
    bindparam,
    case,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import configure_mappers

from messaging import FINAL_STATUSES, Status
from store import batch_writes, callback_outbox
from store.idempotency import KeyCompletion, complete_keys
from store.ids import new_id
from store.inbound import InboundBook
from store.keys import KeyBook, KeyInfo, hash_key, insert_key, key_info
from store.models import Account, ApiKey, Attempt, Message
from store.open_status import is_due, status_of_row
from store.pg_arrays import array_param, text_array
from store.reads import MessageReads
from store.receipts import ReceiptBook
from store.records import (
    ClaimedMessage,
    KeyOwner,
    MessageView,
    NewMessage,
    SendLease,
    SendOutcome,
    StatusChange,
)
from store.sweep import OutboxSweep

log = logging.getLogger(__name__)

# An id, a class and an API key no row has (ids are 32 hex digits, classes are MessageClass
# values, keys are "sb_…"): the warm-ups ask for them to compile statements.
_NO_MESSAGE = "warm-up"
_NO_CLASS = "warm-up"
_NO_KEY = "warm-up"


@functools.cache
def _claim_statement(fill: bool, postgresql: bool = False) -> Update:
    """The claim as one statement, built once (building it is most of a claim's CPU).

    `own`: the task's own ids still queued. `fill` (optional): the oldest due queued messages of
    `:fill_class`, enough to make `:fill_to`, skipping rows another worker is claiming. Both lock
    what they pick (FOR UPDATE re-checks `status` on the newest row version), so the UPDATE
    itself needs no status test and reaches its rows by primary key alone.

    Plans must not depend on how many rows are `queued`: statistics lag a backlog that appears
    in seconds (see migration 0004). `own` tests status through an expression no index covers,
    so its ids are always looked up by primary key, never by scanning the queued rows.

    On PostgreSQL the ids go as arrays (`= ANY`, `<> ALL`): one statement text whatever their
    count, which psycopg parses once and the server prepares; expanding IN lists made a new
    text (parsed, planned) for every batch size.
    """
    queued = Message.status == Status.QUEUED.value
    if postgresql:
        mine: ColumnElement[bool] = Message.id == any_(array_param("ids", String()))
        not_mine: ColumnElement[bool] = Message.id != all_(array_param("not_ids", String()))
    else:
        mine = Message.id.in_(bindparam("ids", expanding=True))
        not_mine = Message.id.not_in(bindparam("not_ids", expanding=True))
    own = (
        select(Message.id)
        .where(
            mine,
            status_of_row() == Status.QUEUED.value,  # no index: by id only
        )
        .with_for_update()  # wait for a row another claim holds, then re-check its status
        .cte("own")
        .prefix_with("MATERIALIZED")
    )
    own_ids: Select[tuple[str]] = select(own.c.id)
    picked: Select[tuple[str]] | CompoundSelect[tuple[str]] = own_ids
    if fill:
        taken = select(func.count()).select_from(own).scalar_subquery()
        room: ColumnElement[int] = bindparam("fill_to", type_=Integer) - taken
        due = is_due(bindparam("now"))
        oldest = (
            select(Message.id)
            .where(queued, Message.message_class == bindparam("fill_class"), due)
            .where(not_mine)
            .order_by(Message.created_at)
            .limit(case((room > 0, room), else_=0))
            .with_for_update(skip_locked=True)  # rows another worker is claiming
            .cte("fill")
            .prefix_with("MATERIALIZED")  # evaluated once: never more than `room` rows
        )
        picked = own_ids.union_all(select(oldest.c.id))
    now = bindparam("now", type_=Message.updated_at.type)
    chosen = picked.subquery("picked")
    return (
        update(Message)
        .where(Message.id == chosen.c.id)
        .values(
            status=Status.SENDING.value,
            updated_at=now,
            next_attempt_at=None,
            lease_owner=bindparam("lease_owner", type_=Message.lease_owner.type),
            lease_until=bindparam("lease_until", type_=Message.lease_until.type),
        )
        .returning(
            Message.id,
            Message.account_id,
            Message.to,
            Message.sender,
            Message.body,
            Message.message_class,
            Message.segments,
            Message.attempt_count,
            Message.valid_until,
            Message.recovered,
        )
    )


class MessageStore(MessageReads, ReceiptBook, OutboxSweep, InboundBook, KeyBook):
    """Repository over an engine; every method is one short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # PostgreSQL runs a lone statement as its own transaction: no BEGIN/COMMIT round trips
        # (same pool, same connections). SQLite is in-process; it keeps BEGIN IMMEDIATE.
        self._autocommit = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else None
        )

    # -- accounts and keys -------------------------------------------------------------

    def ensure_account(self, name: str, now: datetime) -> str:
        """Id of the account `name`, created if missing."""
        with self.engine.begin() as conn:
            found = conn.execute(select(Account.id).where(Account.name == name)).scalar()
            if found is not None:
                return str(found)
            account_id = new_id()
            conn.execute(insert(Account).values(id=account_id, name=name, created_at=now))
            return account_id

    def create_api_key(self, account_name: str, now: datetime, is_admin: bool = False) -> str:
        """Create a key for `account_name` (creating the account) and return it in clear, once."""
        return self.make_api_key(account_name, now, is_admin)[1]

    def make_api_key(
        self, account_name: str, now: datetime, is_admin: bool = False
    ) -> tuple[KeyInfo, str]:
        """`create_api_key`, with what was stored of the key."""
        account_id = self.ensure_account(account_name, now)
        with self.engine.begin() as conn:
            key = insert_key(conn, account_id, is_admin, now)
            return key_info(conn, key), key

    def key_owner(self, key: str) -> KeyOwner | None:
        """The account behind an unrevoked key, or None."""
        query = (
            select(ApiKey.account_id, Account.name, ApiKey.is_admin)
            .join(Account, Account.id == ApiKey.account_id)
            .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return KeyOwner(row.account_id, row.name, bool(row.is_admin)) if row else None

    def account_names(self, account_ids: Iterable[str]) -> dict[str, str]:
        """Account id → name (routing rules name accounts)."""
        ids = sorted(set(account_ids))
        if not ids:
            return {}
        with self.engine.connect() as conn:
            return dict(
                conn.execute(select(Account.id, Account.name).where(Account.id.in_(ids))).all()
            )

    # -- the API side ------------------------------------------------------------------

    def insert_messages(
        self, rows: Sequence[NewMessage], keys: Sequence[KeyCompletion] = ()
    ) -> None:
        """Commit a group of accepted messages in one transaction (status `queued`), with the
        answers of the idempotency keys they were sent under.

        Raises:
            IdempotencyKeyTaken: a key's claim was lost; nothing is committed.
        """
        if not rows:
            return
        with self.engine.begin() as conn:
            complete_keys(conn, keys)
            batch_writes.insert_messages(conn, rows)

    def get_message(self, account_id: str, message_id: str) -> MessageView | None:
        """A message of `account_id` with its attempts, or None."""
        return self.read_messages([(account_id, message_id)])[0]

    def _statement(self) -> AbstractContextManager[Connection]:
        """A connection for one statement that commits on its own."""
        if self._autocommit is not None:
            return self._autocommit.connect()
        return self.engine.begin()

    # -- the worker side ---------------------------------------------------------------

    def claim(
        self,
        ids: Sequence[str],
        now: datetime,
        fill_class: str | None = None,
        fill_to: int = 0,
        lease: SendLease | None = None,
    ) -> list[ClaimedMessage]:
        """Move `queued` messages among `ids` to `sending` and return them (others are skipped).

        With `fill_class`, also take the oldest due `queued` messages of that class until
        `fill_to` are claimed: under a backlog every task carries a full batch, whatever the
        size of the task that woke it (the ids of the extra messages are in other tasks, which
        then find them taken). PostgreSQL skips rows another worker holds (SKIP LOCKED).

        With `lease`, the rows carry it (`renew_leases` keeps it alive; the sweeper takes rows
        of a dead lease back within seconds); without, they wait for `stuck_sending_after`.
        """
        if not ids and not fill_class:
            return []
        params = {
            "ids": list(ids),
            "not_ids": list(ids),  # one list, two parameters: SQLAlchemy renders each empty list
            "now": now,  # as its own kind of empty set
            "fill_class": fill_class,
            "fill_to": fill_to,
            "lease_owner": lease.owner if lease else None,
            "lease_until": lease.until if lease else None,
        }
        with self._statement() as conn:
            postgresql = conn.dialect.name == "postgresql"
            if postgresql:  # store.pg_arrays literals, not lists dumped element by element
                params["ids"] = params["not_ids"] = text_array(ids)
            statement = _claim_statement(bool(fill_class), postgresql)
            rows = list(conn.execute(statement, params).all())
        tried: dict[str, set[str]] = defaultdict(set)
        again = [r.id for r in rows if r.attempt_count]
        if again:  # a resend: the carriers already tried go last
            with self.engine.connect() as conn:
                for message_id, carrier in conn.execute(
                    select(Attempt.message_id, Attempt.carrier).where(Attempt.message_id.in_(again))
                ):
                    tried[message_id].add(carrier)
        order = {mid: i for i, mid in enumerate(ids)}
        claimed = [
            ClaimedMessage(
                id=r.id,
                account_id=r.account_id,
                to=r.to,
                sender=r.sender,
                body=r.body,
                message_class=r.message_class,
                segments=r.segments,
                attempt_count=r.attempt_count,
                valid_until=r.valid_until,
                tried_carriers=tuple(sorted(tried.get(r.id, ()))),
                recovered=bool(r.recovered),
            )
            for r in rows
        ]
        return sorted(claimed, key=lambda c: order.get(c.id, len(order)))

    def warm_up(self, now: datetime) -> None:
        """Configure the ORM's mappers and compile both claims on this engine now, by claiming
        an id and a class no message has (nothing changes).

        SQLAlchemy does both on first use, per process: a fresh worker process's first batch
        spent ~45 ms of an OTP's latency in them (py-spy of each pool process's first task in
        `bench/otp_latency.py`: the two slowest OTPs of an idle gateway were the first two).
        """
        configure_mappers()
        self.claim([_NO_MESSAGE], now)
        self.claim([_NO_MESSAGE], now, fill_class=_NO_CLASS, fill_to=1)

    def warm_up_reads(self) -> None:
        """The API's `warm_up`: configure the mappers, open a pooled connection and compile the
        key lookup, the GET read and the backlog count, by asking for a key and a message that
        do not exist (nothing changes). A fresh API process's first request took 60-64 ms
        against ~11 ms for the next; the compiles were a third of its samples."""
        configure_mappers()
        self.key_owner(_NO_KEY)
        self.read_messages([(_NO_MESSAGE, _NO_MESSAGE)])
        self.queued_backlog(limit=1)

    def record_outcomes(
        self, outcomes: Sequence[SendOutcome], now: datetime, lease_owner: str | None = None
    ) -> list[StatusChange]:
        """Write the attempts, parts and new status of each message in one transaction.

        With `lease_owner`, only messages still `sending` under that lease are written: one
        the sweeper took back (its lease had died: the worker stalled past it) belongs to
        whoever re-sends it, so the late outcome is dropped — never a second charged attempt
        (ARCHITECTURE.md invariant 4). The rows are locked first, so the sweeper cannot take
        one back between the test and the write.
        """
        if not outcomes:
            return []
        with self.engine.begin() as conn:
            known = batch_writes.current(conn, [o.message_id for o in outcomes])
            if lease_owner is not None:
                held = [
                    o
                    for o in outcomes
                    if o.message_id in known and known[o.message_id].held_by(lease_owner)
                ]
                if len(held) < len(outcomes):
                    log.warning(
                        "lease %s lost for %d messages: their outcomes are dropped (re-sent)",
                        lease_owner,
                        len(outcomes) - len(held),
                    )
                outcomes = held
            counts = {
                o.message_id: known[o.message_id].attempt_count if o.message_id in known else 0
                for o in outcomes
            }
            attempts: list[batch_writes.AttemptRow] = []
            carrier_ids: list[tuple[str, ...]] = []
            for o in outcomes:
                base = counts[o.message_id]
                for i, a in enumerate(o.attempts):
                    attempts.append(
                        batch_writes.AttemptRow(
                            message_id=o.message_id,
                            number=base + i + 1,
                            carrier=a.carrier,
                            route=a.route,
                            cost=a.cost if a.accepted else Decimal(0),
                            currency=a.currency,
                            submit_status="accepted" if a.accepted else "error",
                            error_code=a.error_code,
                            resubmitted_after_crash=a.resubmitted_after_crash,
                        )
                    )
                    carrier_ids.append(a.carrier_message_ids)
            inserted = batch_writes.insert_attempts(conn, attempts, now)
            batch_writes.insert_parts(
                conn,
                [
                    batch_writes.PartRow(attempt_id, row.message_id, row.carrier, seg, cmid)
                    for attempt_id, row, cmids in zip(inserted, attempts, carrier_ids, strict=True)
                    for seg, cmid in enumerate(cmids)
                ],
            )
            batch_writes.update_outcomes(
                conn,
                [
                    batch_writes.OutcomeRow(
                        message_id=o.message_id,
                        status=o.status,
                        error_code=o.error_code,
                        attempt_count=counts[o.message_id] + len(o.attempts),
                        sent_at=now if o.status == Status.SENT.value else None,
                        final_at=now if Status(o.status).is_final else None,
                        next_attempt_at=o.next_attempt_at,
                    )
                    for o in outcomes
                ],
                now,
            )
            changes = [
                StatusChange(
                    o.message_id,
                    o.status,
                    known[o.message_id].callback_url if o.message_id in known else None,
                    known[o.message_id].account_id if o.message_id in known else "",
                    carrier=o.attempts[-1].carrier if o.attempts else None,
                )
                for o in outcomes
                if o.status != Status.QUEUED.value
            ]
            return callback_outbox.add_events(conn, changes, now)

    def status_counts(self, ids: Sequence[str] | None = None) -> dict[str, int]:
        """How many messages are in each status (optionally among `ids`)."""
        query = select(Message.status, func.count()).group_by(Message.status)
        if ids is None:
            with self.engine.connect() as conn:
                return {status: int(n) for status, n in conn.execute(query).all()}
        counts: dict[str, int] = defaultdict(int)
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = query.where(Message.id.in_(list(ids[start : start + 500])))
                for status, n in conn.execute(chunk).all():
                    counts[status] += int(n)
        return dict(counts)

    def report(self, ids: Sequence[str]) -> list[tuple[str, str | None, datetime, datetime | None]]:
        """Per message among `ids`: status, accepting carrier, when accepted, when final."""
        out: list[tuple[str, str | None, datetime, datetime | None]] = []
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                carriers = dict(
                    conn.execute(
                        select(Attempt.message_id, Attempt.carrier).where(
                            Attempt.message_id.in_(chunk), Attempt.submit_status == "accepted"
                        )
                    ).all()
                )
                for row in conn.execute(
                    select(Message.id, Message.status, Message.created_at, Message.final_at).where(
                        Message.id.in_(chunk)
                    )
                ):
                    out.append((row.status, carriers.get(row.id), row.created_at, row.final_at))
        return out

    def final_count(self) -> int:
        """Messages in a final status."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(
                        Message.status.in_([s.value for s in FINAL_STATUSES])
                    )
                ).scalar_one()
            )
