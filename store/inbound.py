"""Inbound side of the store: MOs (parts joined when complete), opt-out lists.

`write_inbound` is the durable hand-off of a batch of MOs: one transaction stores each whole
MO, keeps each part of a concatenated one in `inbound_parts` and joins every group found
complete, and applies opt-out / opt-in keywords to the owning account's list. The forwarder
acknowledges the batch to the carriers only after it returns (SMPP 3.4 §4.6.2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from messaging import ConcatRef, reassemble
from store.ids import new_id
from store.models import Account, InboundMessage, InboundPart, OptOut

# The keyword action of a whole MO's text ("opt_out", "opt_in", "help") or None.
Classify = Callable[[str], str | None]
# The name of the account owning one of our numbers or short codes (an MO's destination).
Owner = Callable[[str], str | None]
OPT_OUT, OPT_IN = "opt_out", "opt_in"


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
        self, records: Sequence[InboundRecord], owner: Owner, classify: Classify
    ) -> InboundWriteResult:
        """Store a batch of MOs in one transaction (see the module docstring)."""
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
            rows = []
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
        return InboundWriteResult(len(rows), len(parts), opted_out, opted_in)

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
