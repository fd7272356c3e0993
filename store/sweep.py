"""The outbox sweep: stranded messages, worker heartbeats, expiry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, func, or_, select, update

from messaging import Status
from store import callback_outbox
from store.models import Message
from store.open_status import OPEN_STATUSES, status_of_row
from store.records import (
    StatusChange,
)


class OutboxSweep:
    """Sweeper side of the message store (mixed into MessageStore)."""

    engine: Engine

    def stranded(
        self, now: datetime, queued_before: datetime, sending_before: datetime
    ) -> dict[str, int]:
        """How many messages of each class need a send task: the outbox sweep.

        ARCHITECTURE.md invariant 1: whatever fell between a commit and its enqueue (queued,
        untouched since `queued_before`), retries now due, and rows a dead worker left in
        `sending` (no heartbeat since `sending_before`, put back to `queued` here) are counted;
        the sweeper then wakes send tasks of the class, which claim the oldest first.
        """
        due = or_(
            Message.next_attempt_at <= now,
            (Message.next_attempt_at.is_(None) & (Message.updated_at < queued_before)),
        )
        with self.engine.begin() as conn:
            # updated_at is kept: the row is as stale as it was, so it is counted just below.
            conn.execute(
                update(Message)
                .where(Message.status == Status.SENDING.value, Message.updated_at < sending_before)
                .values(status=Status.QUEUED.value)
            )
            rows = conn.execute(
                select(Message.message_class, func.count())
                .where(Message.status == Status.QUEUED.value, due)
                .group_by(Message.message_class)
            ).all()
        return {message_class: int(n) for message_class, n in rows}

    def heartbeat(self, ids: Sequence[str], now: datetime) -> None:
        """A worker still holds these `sending` rows: keep the sweeper off them."""
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(Message)
                .where(Message.id.in_(list(ids)), status_of_row() == Status.SENDING.value)
                .values(updated_at=now)
            )

    def expire_overdue(self, now: datetime) -> list[StatusChange]:
        """Messages past validity with no final receipt become `expired`."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Message.id, Message.callback_url).where(
                    Message.status.in_(OPEN_STATUSES), Message.valid_until < now
                )
            ).all()
            if rows:
                conn.execute(
                    update(Message)
                    .where(Message.id.in_([r.id for r in rows]), status_of_row().in_(OPEN_STATUSES))
                    .values(status=Status.EXPIRED.value, final_at=now, updated_at=now)
                )
            changes = [StatusChange(r.id, Status.EXPIRED.value, r.callback_url) for r in rows]
            callback_outbox.add_events(conn, changes, now)
        return changes
