"""Inbound side of the store: MOs (parts joined when complete), opt-out lists.

`write_inbound` is the durable hand-off of a batch of MOs: one transaction stores each whole
MO, keeps each part of a concatenated one in `inbound_parts` and joins every group found
complete, and applies opt-out / opt-in keywords to the owning account's list. The forwarder
acknowledges the batch to the carriers only after it returns (SMPP 3.4 §4.6.2).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from messaging import CallbackEvent, ConcatRef, InboundEvent, MessageClass, reassemble, segment
from store.account_settings import NOT_SET, AccountSettings, settings_of
from store.batch_writes import insert_messages
from store.callback_outbox import CALLBACK_HANDOFF_GRACE
from store.ids import new_id
from store.models import (
    Account,
    CallbackEventRow,
    InboundMessage,
    InboundPart,
    InboundReply,
    OptOut,
)
from store.pg_arrays import text_array
from store.records import NewMessage, PendingCallback

# The keyword action of a whole MO's text ("opt_out", "opt_in", "help") or None.
Classify = Callable[[str], str | None]
# The name of the account owning one of our numbers or short codes (an MO's destination).
Owner = Callable[[str], str | None]
OPT_OUT, OPT_IN = "opt_out", "opt_in"
# The webhook's name of a stored keyword action.
WEBHOOK_KEYWORD = {OPT_OUT: "stop", OPT_IN: "start", "help": "help"}
# (account name, our number, keyword action or None) → (reply kind, text), or None: no reply.
ReplyFor = Callable[[str, str, str | None], tuple[str, str] | None]
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")  # a reply needs a dialable sender (ITU-T E.164)
INBOUND_STATUS = "inbound"  # the `status` of an MO's event row (status events hold theirs)


@dataclass(frozen=True)
class InboundActions:
    """What a stored MO sets off, in its own transaction (the operator's rules, as callables).

    `inbound_url`: the owning account's webhook (account name → URL or None); each MO to it
    writes an outbox event. `reply`: the automatic reply an MO gets; a reply is a
    `transactional` message from the MO's destination to its sender, written `queued`, at
    most one of a kind per (destination, sender) per `reply_every`; the auto-reply is never
    sent to a number on the account's opt-out list (HELP and the STOP confirmation are).
    The account's own settings (`store.account_settings`, set over the API) override both
    callables' answers for its MOs.
    """

    inbound_url: Callable[[str], str | None] = lambda _name: None
    reply: ReplyFor = lambda _name, _number, _keyword: None
    reply_every: timedelta = timedelta(minutes=60)
    reply_validity: timedelta = timedelta(hours=1)


NO_ACTIONS = InboundActions()


@dataclass(frozen=True)
class InboundRecord:
    """One MO deliver_sm (or one part of a concatenated MO), ready to store."""

    carrier: str
    source: str  # the subscriber (E.164 when numeric)
    destination: str  # our number or short code
    text: str
    received_at: datetime
    part: ConcatRef | None = None


@dataclass(frozen=True)
class InboundView:
    """One stored MO as the API lists it."""

    id: str
    carrier: str
    source: str
    destination: str
    text: str
    parts: int
    keyword: str | None
    received_at: datetime


@dataclass(frozen=True)
class InboundWriteResult:
    """What one write did."""

    stored: int  # whole MOs stored (a joined one counts once)
    parts: int  # parts of concatenated MOs received in this batch
    opted_out: int
    opted_in: int
    events: tuple[PendingCallback, ...] = ()  # inbound_url events written (the writer POSTs)
    replies: tuple[str, ...] = ()  # ids of the reply messages queued (to enqueue, class
    # transactional)
    throttled: int = 0  # replies not sent: one of their kind went within `reply_every`


def _insert_ignoring_conflicts(
    conn: Connection, table: type[InboundPart] | type[OptOut]
) -> postgresql.Insert | sqlite.Insert:
    """INSERT … ON CONFLICT DO NOTHING in the connection's dialect (SQLite and PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


class InboundBook:
    """Inbound messages and opt-outs (mixed into MessageStore)."""

    engine: Engine

    def write_inbound(
        self,
        records: Sequence[InboundRecord],
        owner: Owner,
        classify: Classify,
        actions: InboundActions = NO_ACTIONS,
    ) -> InboundWriteResult:
        """Store a batch of MOs in one transaction (see the module docstring), with the
        webhook events and the replies they set off (`actions`)."""
        whole: list[tuple[InboundRecord, str, int]] = []
        with self.engine.begin() as conn:
            parts = [r for r in records if r.part is not None]
            if parts:
                conn.execute(
                    _insert_ignoring_conflicts(conn, InboundPart),
                    [
                        {
                            "carrier": r.carrier,
                            "source": r.source,
                            "destination": r.destination,
                            "reference": r.part.reference,
                            "total": r.part.total,
                            "number": r.part.number,
                            "text": r.text,
                            "received_at": r.received_at,
                        }
                        for r in parts
                        if r.part is not None
                    ],
                )
                whole += _join_complete(conn)
            whole += [(r, r.text, 1) for r in records if r.part is None]
            owners = {r.destination: owner(r.destination) for r, _, _ in whole}
            names = {name for name in owners.values() if name}
            ids = dict(
                conn.execute(select(Account.name, Account.id).where(Account.name.in_(names))).all()
            )
            opted_out = opted_in = 0
            rows: list[dict[str, object]] = []
            for record, text, count in whole:
                keyword = classify(text)
                name = owners[record.destination]
                account_id = ids.get(name) if name else None
                rows.append(
                    {
                        "id": new_id(),
                        "account_id": account_id,
                        "carrier": record.carrier,
                        "source": record.source,
                        "destination": record.destination,
                        "text": text,
                        "parts": count,
                        "keyword": keyword,
                        "received_at": record.received_at,
                    }
                )
                if account_id is None:
                    continue
                if keyword == OPT_OUT:
                    opted_out += _add_opt_out(
                        conn, account_id, record.source, "mo", record.received_at
                    )
                elif keyword == OPT_IN:
                    opted_in += _remove_opt_out(conn, account_id, record.source)
            if rows:
                conn.execute(insert(InboundMessage), rows)
            followed = _follow_up(conn, rows, owners, ids, actions)
        return InboundWriteResult(
            len(rows),
            len(parts),
            opted_out,
            opted_in,
            followed.events,
            followed.replies,
            followed.throttled,
        )

    def list_inbound(
        self, account_id: str, limit: int, after: tuple[datetime, str] | None = None
    ) -> list[InboundView]:
        """The account's MOs oldest first, after the keyset `(received_at, id)` if given."""
        query = select(InboundMessage).where(InboundMessage.account_id == account_id)
        if after is not None:
            query = query.where(
                tuple_(InboundMessage.received_at, InboundMessage.id) > tuple_(*after)
            )
        query = query.order_by(InboundMessage.received_at, InboundMessage.id).limit(limit)
        with self.engine.connect() as conn:
            return [
                InboundView(
                    m.id,
                    m.carrier,
                    m.source,
                    m.destination,
                    m.text,
                    m.parts,
                    m.keyword,
                    m.received_at,
                )
                for m in conn.execute(query)
            ]

    def add_opt_out(self, account_id: str, number: str, now: datetime, origin: str = "api") -> bool:
        """Put `number` on the account's opt-out list; False when it already was (idempotent)."""
        with self.engine.begin() as conn:
            return bool(_add_opt_out(conn, account_id, number, origin, now))

    def remove_opt_out(self, account_id: str, number: str) -> bool:
        """Take `number` off the list; False when it was not on it (idempotent)."""
        with self.engine.begin() as conn:
            return bool(_remove_opt_out(conn, account_id, number))

    def list_opt_outs(
        self, account_id: str, limit: int, after: str | None = None
    ) -> list[tuple[str, str, datetime]]:
        """(number, origin, created_at) of the account's list, by number, after `after`."""
        query = select(OptOut.number, OptOut.origin, OptOut.created_at).where(
            OptOut.account_id == account_id
        )
        if after is not None:
            query = query.where(OptOut.number > after)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(OptOut.number).limit(limit)).all()
        return [(r.number, r.origin, r.created_at) for r in rows]

    def opted_out(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (account_id, number) pairs are on their account's opt-out list."""
        wanted = sorted(set(pairs))
        if not wanted:
            return set()
        found: set[tuple[str, str]] = set()
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # one statement text whatever the count: psycopg parses a new text each call
                # (a tuple IN list was 4/5 of this function's CPU in a send worker)
                params = {
                    "a": text_array([a for a, _ in wanted]),
                    "n": text_array([n for _, n in wanted]),
                }
                return {(a, n) for a, n in conn.exec_driver_sql(_OPTED_OUT_PG, params)}
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                found.update(
                    (r.account_id, r.number)
                    for r in conn.execute(
                        select(OptOut.account_id, OptOut.number).where(
                            tuple_(OptOut.account_id, OptOut.number).in_(chunk)
                        )
                    )
                )
        return found


_OPTED_OUT_PG = """
SELECT o.account_id, o.number
FROM unnest(%(a)s::varchar[], %(n)s::varchar[]) AS w(a, n)
JOIN opt_outs o ON o.account_id = w.a AND o.number = w.n
"""


@dataclass(frozen=True)
class _FollowUp:
    events: tuple[PendingCallback, ...] = ()
    replies: tuple[str, ...] = ()
    throttled: int = 0


def _follow_up(
    conn: Connection,
    rows: Sequence[dict[str, object]],
    owners: dict[str, str | None],
    ids: dict[str, str],
    actions: InboundActions,
) -> _FollowUp:
    """The webhook events and replies of the MO rows just inserted (same transaction)."""
    events: list[PendingCallback] = []
    replies: list[NewMessage] = []
    throttled = 0
    own = settings_of(conn, {str(r["account_id"]) for r in rows if r["account_id"]})
    for row in rows:
        account_id = row["account_id"]
        name = owners[str(row["destination"])]
        if not isinstance(account_id, str) or name is None:
            continue
        mo = _row_mo(row, name)
        settings = own.get(account_id, NOT_SET)
        url = settings.inbound_url or actions.inbound_url(name)
        if url is not None:
            events.append(_add_inbound_event(conn, mo, account_id, url))
        keyword = row["keyword"] if isinstance(row["keyword"], str) else None
        reply = _reply(settings, actions.reply(name, mo.recipient, keyword), keyword)
        if reply is None or not _E164.match(mo.sender):
            continue  # nothing to say, or nobody to say it to (an alphanumeric sender)
        kind, text = reply
        if kind == "auto" and _is_opted_out(conn, account_id, mo.sender):
            continue  # after STOP only HELP answers and the confirmation go (CTIA)
        if not _take_reply_slot(conn, mo, kind, actions.reply_every):
            throttled += 1
            continue
        parts = segment(text)
        replies.append(
            NewMessage(
                id=new_id(),
                account_id=account_id,
                to=mo.sender,
                sender=mo.recipient,
                body=text,
                message_class=MessageClass.TRANSACTIONAL.value,
                encoding=parts.encoding.value,
                segments=parts.segments,
                callback_url=None,
                created_at=mo.received_at,
                valid_until=mo.received_at + actions.reply_validity,
            )
        )
    if replies:
        insert_messages(conn, replies)
    return _FollowUp(tuple(events), tuple(r.id for r in replies), throttled)


def _reply(
    settings: AccountSettings, operator: tuple[str, str] | None, keyword: str | None
) -> tuple[str, str] | None:
    """The reply an MO gets: the account's own text for its kind when it set one (an empty
    one: no reply), else the routes file's (`operator`)."""
    kind = WEBHOOK_KEYWORD.get(keyword or "", "auto")  # the keyword's reply kind
    text = settings.reply(kind)
    if text is None:
        return operator
    return (kind, text) if text else None


def _row_mo(row: dict[str, object], account: str) -> InboundEvent:
    keyword = row["keyword"]
    received_at = row["received_at"]
    assert isinstance(received_at, datetime)
    return InboundEvent(
        id=str(row["id"]),
        sender=str(row["source"]),
        recipient=str(row["destination"]),
        text=str(row["text"]),
        carrier=str(row["carrier"]),
        received_at=received_at,
        account=account,
        keyword=WEBHOOK_KEYWORD.get(keyword) if isinstance(keyword, str) else None,
    )


def _add_inbound_event(
    conn: Connection, mo: InboundEvent, account_id: str, url: str
) -> PendingCallback:
    """One outbox row for the MO's webhook, due for the sweep after the hand-off grace (the
    writer POSTs it first); returned as a first delivery begun, like `add_events`' rows."""
    body = orjson.dumps(mo.wire())
    values = {
        "message_id": mo.id,
        "account_id": account_id,
        "url": url,
        "batch": False,
        "status": INBOUND_STATUS,
        "segments": 1,
        "to": mo.recipient[:20],
        "carrier": mo.carrier,
        "message_created_at": mo.received_at,
        "at": mo.received_at,
        "attempts": 0,
        "next_attempt_at": mo.received_at + CALLBACK_HANDOFF_GRACE,
        "created_at": mo.received_at,
        "body": body,
    }
    event_id = conn.execute(
        insert(CallbackEventRow).values(**values).returning(CallbackEventRow.id)
    ).scalar_one()
    return PendingCallback(
        event_id=int(event_id),
        url=url,
        batch=False,
        attempts=1,
        created_at=mo.received_at,
        event=CallbackEvent(
            id=mo.id,
            status=INBOUND_STATUS,
            error_code=None,
            carrier=mo.carrier,
            segments=1,
            cost=None,
            currency=None,
            to=mo.recipient,
            created_at=mo.received_at,
            sent_at=None,
            final_at=None,
            at=mo.received_at,
        ),
        account_id=account_id,
        body=body,
    )


def _take_reply_slot(conn: Connection, mo: InboundEvent, kind: str, every: timedelta) -> bool:
    """Record a reply of `kind` to the MO's sender now, unless one went after now - `every`
    (`inbound.reply_allowed` is the rule); one statement, so two writers cannot both win."""
    values = {
        "destination": mo.recipient,
        "subscriber": mo.sender,
        "kind": kind,
        "replied_at": mo.received_at,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(InboundReply).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[InboundReply.destination, InboundReply.subscriber, InboundReply.kind],
        set_={"replied_at": statement.excluded.replied_at},
        where=InboundReply.replied_at <= mo.received_at - every,
    )
    return bool(conn.execute(statement.returning(InboundReply.kind)).all())


def _is_opted_out(conn: Connection, account_id: str, number: str) -> bool:
    return (
        conn.execute(
            select(OptOut.number).where(OptOut.account_id == account_id, OptOut.number == number)
        ).first()
        is not None
    )


def _add_opt_out(conn: Connection, account_id: str, number: str, origin: str, now: datetime) -> int:
    values = {"account_id": account_id, "number": number, "origin": origin, "created_at": now}
    # RETURNING, not rowcount: the PostgreSQL driver reports -1 for a single statement here.
    statement = _insert_ignoring_conflicts(conn, OptOut).returning(OptOut.number)
    return len(conn.execute(statement, values).all())


def _remove_opt_out(conn: Connection, account_id: str, number: str) -> int:
    where = and_(OptOut.account_id == account_id, OptOut.number == number)
    return len(conn.execute(delete(OptOut).where(where).returning(OptOut.number)).all())


def _join_complete(conn: Connection) -> list[tuple[InboundRecord, str, int]]:
    """Join every group of parts now complete, deleting its parts; (first part, text, count).

    Every write looks at all groups, not just its own: two binds committing the last two parts
    of one message at the same moment each see it incomplete, and the next write joins it. The
    parts are deleted before the message is stored, and only the transaction whose delete took
    them stores it (PostgreSQL's second delete waits for the first and finds nothing).
    """
    key = (
        InboundPart.source,
        InboundPart.destination,
        InboundPart.reference,
        InboundPart.total,
    )
    complete = conn.execute(
        select(*key)
        .group_by(*key)
        .having(func.count(func.distinct(InboundPart.number)) == InboundPart.total)
    ).all()
    joined: list[tuple[InboundRecord, str, int]] = []
    for source, destination, reference, total in complete:
        where = and_(
            InboundPart.source == source,
            InboundPart.destination == destination,
            InboundPart.reference == reference,
            InboundPart.total == total,
        )
        rows = conn.execute(
            select(InboundPart).where(where).order_by(InboundPart.received_at)
        ).all()
        taken = conn.execute(delete(InboundPart).where(where).returning(InboundPart.id)).all()
        text = reassemble(((r.number, r.text) for r in rows), total)
        if not taken or text is None:
            continue
        first = rows[0]
        record = InboundRecord(
            first.carrier,
            source,
            destination,
            text,
            first.received_at,
            part=ConcatRef(reference, total, 1),
        )
        joined.append((record, text, len(rows)))
    return joined
