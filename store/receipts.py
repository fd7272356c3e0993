"""Receipts into the books: match parts, settle attempts and messages, resend per policy."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, case, delete, func, insert, select, update

from messaging import ReceiptState, ResendPolicy, Status
from store import batch_writes, callback_outbox
from store.models import Attempt, Message, ParkedReceipt, Part
from store.open_status import is_open, status_of_row
from store.records import (
    NO_RESEND,
    ParkedRetry,
    ReceiptBatchResult,
    ReceiptRecord,
    StatusChange,
)

# What an attempt's receipts make of its message: all delivered → delivered, else the worst.
_RECEIPT_TO_STATUS = {
    ReceiptState.DELIVERED: Status.DELIVERED,
    ReceiptState.EXPIRED: Status.EXPIRED,
    ReceiptState.UNDELIVERED: Status.UNDELIVERED,
    ReceiptState.REJECTED: Status.UNDELIVERED,
    ReceiptState.DELETED: Status.UNDELIVERED,
    ReceiptState.UNKNOWN: Status.UNDELIVERED,
}
_INTERIM = {ReceiptState.ACCEPTED.value, ReceiptState.ENROUTE.value}
log = logging.getLogger(__name__)

_STATUS_RANK = {Status.DELIVERED: 0, Status.UNDELIVERED: 1, Status.EXPIRED: 2}


class ReceiptBook:
    """Receipt side of the message store (mixed into MessageStore)."""

    engine: Engine

    def apply_receipts(
        self,
        receipts: Sequence[ReceiptRecord],
        now: datetime,
        resend: ResendPolicy = NO_RESEND,
        park_unmatched: bool = False,
        one_receipt: Collection[str] = frozenset(),
        park_received_before: datetime | None = None,
    ) -> ReceiptBatchResult:
        """Match receipts to parts (idempotently); settle messages whose parts all have receipts.

        A carrier in `one_receipt` sends one receipt per concatenated message (for its first
        or its last segment): that receipt settles the whole attempt.

        With `park_unmatched`, receipts that match no part yet (they raced ahead of their
        `submit_sm_resp`) are kept in `parked_receipts` in the same transaction, so the caller
        may acknowledge the whole batch to the carrier once this returns. With
        `park_received_before` too, only those received before it are parked; the younger ones
        are returned in `waiting`, untouched, for the caller to hold (unacknowledged) and apply
        again once their attempt is likely written: most such receipts only raced the send
        loop's write by milliseconds, and a parked row costs an insert, a read and a delete.
        """
        if not receipts:
            return ReceiptBatchResult(0, 0, ())
        with self.engine.begin() as conn:
            result = self._apply(conn, receipts, now, resend, one_receipt)
            if park_unmatched and result.unmatched and park_received_before is not None:
                young = tuple(  # one of unknown age (no received_at) is parked
                    r
                    for r in result.unmatched
                    if r.received_at is not None and r.received_at >= park_received_before
                )
                if young:
                    kept = {id(r) for r in young}
                    old = tuple(r for r in result.unmatched if id(r) not in kept)
                    result = replace(result, unmatched=old, waiting=young)
            if park_unmatched and result.unmatched:
                conn.execute(
                    insert(ParkedReceipt),
                    [
                        {
                            "carrier": r.carrier,
                            "carrier_message_ids": " ".join(r.carrier_message_ids),
                            "state": r.state,
                            "error_code": r.error_code,
                            "raw_stat": r.raw_stat,
                            "received_at": r.received_at or now,
                        }
                        for r in result.unmatched
                    ],
                )
                result = replace(result, parked=len(result.unmatched))
        return result

    def retry_parked(
        self,
        now: datetime,
        max_age: timedelta,
        resend: ResendPolicy = NO_RESEND,
        limit: int = 1000,
        one_receipt: Collection[str] = frozenset(),
    ) -> ParkedRetry:
        """Apply parked receipts again; drop those that matched, and those older than `max_age`.

        Several workers may call this at once: on PostgreSQL each takes rows the others have not
        locked (SKIP LOCKED); a receipt applied twice changes nothing the second time.
        """
        query = select(ParkedReceipt).order_by(ParkedReceipt.id).limit(limit)
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = conn.execute(query).all()
            if not rows:
                return ParkedRetry(ReceiptBatchResult(0, 0, ()), 0, 0)
            records = [
                ReceiptRecord(
                    r.carrier,
                    tuple(r.carrier_message_ids.split()),
                    r.state,
                    r.error_code,
                    r.received_at,
                    r.raw_stat,
                )
                for r in rows
            ]
            result = self._apply(conn, records, now, resend, one_receipt)
            waiting = {id(r) for r in result.unmatched}
            done, dropped, kept = [], [], 0
            for row, record in zip(rows, records, strict=True):
                if id(record) not in waiting:
                    done.append(row.id)
                elif now - row.received_at > max_age:
                    dropped.append(row.id)
                    log.warning(
                        "receipt %s from %s matched no attempt in %s; dropped",
                        record.carrier_message_ids[0],
                        record.carrier,
                        max_age,
                    )
                else:
                    kept += 1
            if done or dropped:
                conn.execute(delete(ParkedReceipt).where(ParkedReceipt.id.in_(done + dropped)))
        return ParkedRetry(result, kept, len(dropped))

    def settle_partial_receipts(
        self,
        now: datetime,
        received_before: datetime,
        carriers: Collection[str],
        resend: ResendPolicy = NO_RESEND,
        limit: int = 1000,
    ) -> ReceiptBatchResult:
        """Settle multipart attempts on `carriers` whose parts have some receipts, none newer
        than `received_before`, and still miss others: the carrier sends one receipt per
        concatenated message, so the rest will never come.

        Looks only at the oldest `limit` `sent` messages of more than one segment sent before
        `received_before` (what one sweep can afford).
        """
        if not carriers:
            return ReceiptBatchResult(0, 0, ())
        with self.engine.begin() as conn:
            # Oldest first through (status, updated_at); attempts by message id and parts by
            # attempt id are both indexed (parts.message_id is not).
            candidates = (
                select(Message.id)
                .where(
                    Message.status == Status.SENT.value,
                    Message.updated_at < received_before,
                    Message.segments > 1,
                )
                .order_by(Message.updated_at)
                .limit(limit)
                .scalar_subquery()
            )
            receipted = Part.receipt_state.is_not(None)
            rows = conn.execute(
                select(
                    Part.attempt_id,
                    Attempt.carrier,
                    func.count(Part.receipt_state),
                    func.count(),
                    func.max(case((receipted, Part.segment))),
                )
                .select_from(Attempt)
                .join(Part, Part.attempt_id == Attempt.id)
                .where(
                    Attempt.message_id.in_(candidates),
                    Attempt.carrier.in_(sorted(carriers)),
                    Attempt.receipt_state.is_(None),
                )
                .group_by(Part.attempt_id, Attempt.carrier)
                .having(
                    func.count(Part.receipt_state) > 0,
                    func.count(Part.receipt_state) < func.count(),
                    func.max(Part.receipt_at) < received_before,
                )
            ).all()
            attempts = [r[0] for r in rows]
            if not attempts:
                return ReceiptBatchResult(0, 0, ())
            changes, again = self._settle_attempts(conn, attempts, now, resend, set(attempts))
        # One receipt, for the first or the last segment, and none for the others: what a
        # carrier sending one receipt per concatenated message does.
        evidence = tuple(
            (carrier, "one")
            for _, carrier, received, parts, segment in rows
            if received == 1 and segment in (0, parts - 1)
        )
        return ReceiptBatchResult(
            len(attempts), 0, (), tuple(changes), tuple(again), segment_evidence=evidence
        )

    def parked_count(self) -> int:
        """Receipts waiting in `parked_receipts`."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(ParkedReceipt)).scalar_one())

    def _apply(
        self,
        conn: Connection,
        receipts: Sequence[ReceiptRecord],
        now: datetime,
        resend: ResendPolicy,
        one_receipt: Collection[str] = frozenset(),
    ) -> ReceiptBatchResult:
        """Match and settle `receipts` inside the caller's transaction."""
        keys = sorted({(r.carrier, v) for r in receipts for v in r.carrier_message_ids})
        matched = duplicates = 0
        unmatched: list[ReceiptRecord] = []
        changes: list[StatusChange] = []
        again: list[str] = []
        found = batch_writes.parts_by_key(conn, keys)
        newest: dict[tuple[str, str], Any] = {}
        for p in found:
            newest.setdefault((p.carrier, p.carrier_message_id), p)
        part_updates: list[tuple[int, str, str | None, str | None]] = []
        touched_attempts: dict[int, str] = {}  # attempt id → the receipt's carrier (log lines)
        whole: set[int] = set()  # attempts one receipt settles (its carrier sends one per message)
        seen_parts: set[int] = set()
        for r in receipts:
            part = next(
                (newest[(r.carrier, v)] for v in r.carrier_message_ids if (r.carrier, v) in newest),
                None,
            )
            if part is None:
                unmatched.append(r)
                continue
            matched += 1
            if r.state in _INTERIM:
                continue
            if part.receipt_state is not None or part.id in seen_parts:
                duplicates += 1
                continue
            seen_parts.add(part.id)
            part_updates.append((part.id, r.state, r.error_code or None, r.raw_stat or None))
            touched_attempts[part.attempt_id] = r.carrier
            if r.carrier in one_receipt:
                whole.add(part.attempt_id)
        evidence: list[tuple[str, str]] = []
        if part_updates:
            batch_writes.set_part_receipts(conn, part_updates, now)
            changes, again = self._settle_attempts(
                conn, touched_attempts, now, resend, whole, touched_attempts, evidence
            )
        return ReceiptBatchResult(
            matched,
            duplicates,
            tuple(unmatched),
            tuple(changes),
            tuple(again),
            segment_evidence=tuple(evidence),
        )

    def _settle_attempts(
        self,
        conn: Connection,
        attempt_ids: Iterable[int],
        now: datetime,
        resend: ResendPolicy,
        whole: Collection[int] = frozenset(),
        carriers: Mapping[int, str] | None = None,
        evidence: list[tuple[str, str]] | None = None,
    ) -> tuple[list[StatusChange], list[str]]:
        """Settle attempts whose parts all have receipts (those in `whole`: whose parts have
        any receipt); a failed one may go out again. `carriers` (attempt id → carrier, when
        known) goes on the changes, for the state-change log lines; `evidence` gets
        `(carrier, "each")` for every multipart attempt with receipts for two segments."""
        by_attempt: dict[int, list[tuple[int, str, str | None, str | None]]] = defaultdict(list)
        for row in batch_writes.parts_of_attempts(conn, list(attempt_ids)):
            by_attempt[row[0]].append(row)
        attempt_updates: list[tuple[int, str, str | None]] = []
        message_updates: list[tuple[str, str]] = []
        carrier_of: dict[str, str] = {}
        for attempt_id, parts in by_attempt.items():
            received = [(state, stat) for _, _, state, stat in parts if state is not None]
            if evidence is not None and carriers and len(received) >= 2 and attempt_id in carriers:
                evidence.append((carriers[attempt_id], "each"))  # a receipt per segment
            if not received or (len(received) < len(parts) and attempt_id not in whole):
                continue  # wait for every segment's receipt
            status, stat = max(
                (
                    (_RECEIPT_TO_STATUS.get(ReceiptState(state), Status.UNDELIVERED), stat)
                    for state, stat in received
                ),
                key=lambda pair: _STATUS_RANK[pair[0]],
            )
            attempt_updates.append((attempt_id, status.value, stat))
            message_updates.append((parts[0][1], status.value))
            if carriers is not None and attempt_id in carriers:
                carrier_of[parts[0][1]] = carriers[attempt_id]
        if not attempt_updates:
            return [], []
        batch_writes.set_attempt_receipts(conn, attempt_updates, now)
        open_rows = batch_writes.open_messages(conn, [m for m, _ in message_updates])
        settle: list[tuple[str, str]] = []
        again: list[str] = []
        for message_id, status_value in message_updates:
            message = open_rows.get(message_id)
            if message is None:
                continue
            failed = status_value != Status.DELIVERED.value
            if failed and resend.allows(
                message.message_class, message.attempt_count, message.valid_until, now
            ):
                again.append(message_id)
            else:
                settle.append((message_id, status_value))
        # A final status never precedes its `sent`: settle_messages takes the later of `now`
        # and the row's `sent_at` (`now` was read before this transaction waited for locks).
        batch_writes.settle_messages(conn, settle, now)
        if again:  # e.g. an undelivered OTP: the next carrier, while its code is valid
            conn.execute(
                update(Message)
                .where(Message.id.in_(again), is_open())
                .values(status=Status.QUEUED.value, updated_at=now, next_attempt_at=None)
            )
        changes = [
            StatusChange(
                message_id,
                status_value,
                open_rows[message_id].callback_url,
                open_rows[message_id].account_id,
                carrier=carrier_of.get(message_id),
            )
            for message_id, status_value in settle
        ]
        return callback_outbox.add_events(conn, changes, now), again

    def silent_to_resend(
        self, now: datetime, sent_before: datetime, resend: ResendPolicy
    ) -> dict[str, list[str]]:
        """Messages sent before `sent_before` with no receipt yet that the policy sends again.

        They go back to `queued` (a late receipt for the first attempt still settles them).
        """
        if not resend.classes:
            return {}
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(
                    Message.id, Message.message_class, Message.attempt_count, Message.valid_until
                )
                .where(
                    Message.status == Status.SENT.value,
                    Message.message_class.in_(sorted(resend.classes)),
                    Message.sent_at < sent_before,
                )
                .limit(1000)
            ).all()
            chosen = [
                r
                for r in rows
                if resend.allows(r.message_class, r.attempt_count, r.valid_until, now)
            ]
            if chosen:
                conn.execute(
                    update(Message)
                    .where(
                        Message.id.in_([r.id for r in chosen]), status_of_row() == Status.SENT.value
                    )
                    .values(status=Status.QUEUED.value, updated_at=now, next_attempt_at=None)
                )
        out: dict[str, list[str]] = defaultdict(list)
        for r in chosen:
            out[r.message_class].append(r.id)
        return dict(out)
