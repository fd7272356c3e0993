"""The outbox sweep: stranded messages, send leases and heartbeats, expiry."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, Row, bindparam, func, or_, select, update

from messaging import LeasePolicy, Status
from store import callback_outbox
from store.models import Message, naive_utc
from store.open_status import OPEN_STATUSES, status_of_row
from store.records import SendLease, StatusChange

log = logging.getLogger(__name__)

_RENEW = """
UPDATE messages SET lease_until = %(until)s::timestamp
WHERE id = ANY(%(ids)s::varchar[]) AND coalesce(status, '') = 'sending'
  AND lease_owner = %(owner)s
"""


class OutboxSweep:
    """Sweeper side of the message store (mixed into MessageStore)."""

    engine: Engine

    def stranded(
        self,
        now: datetime,
        queued_before: datetime,
        sending_before: datetime | None = None,
        leases: LeasePolicy | None = None,
    ) -> dict[str, int]:
        """How many messages of each class need a send task: the outbox sweep.

        ARCHITECTURE.md invariant 1: whatever fell between a commit and its enqueue (queued,
        untouched since `queued_before`), retries now due, and — given `sending_before` —
        rows a dead worker left in `sending` (`take_back` puts them back to `queued` first)
        are counted; the sweeper then wakes send tasks of the class, which claim the oldest.
        """
        if sending_before is not None:
            self.take_back(now, sending_before, leases or LeasePolicy())
        due = or_(
            Message.next_attempt_at <= now,
            (Message.next_attempt_at.is_(None) & (Message.updated_at < queued_before)),
        )
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Message.message_class, func.count())
                .where(Message.status == Status.QUEUED.value, due)
                .group_by(Message.message_class)
            ).all()
        return {message_class: int(n) for message_class, n in rows}

    def take_back(self, now: datetime, sending_before: datetime, leases: LeasePolicy) -> int:
        """Put `sending` rows of dead batches back to `queued`, due now and `recovered`.

        A row with a lease is dead when `leases.is_dead` says so (its worker stopped renewing
        it seconds ago); a row claimed without one (an older worker) when it has had no
        update since `sending_before`. Each row is taken back only if its lease is still the
        one read (compare-and-set): a batch that renewed meanwhile keeps it. Returns how many.
        """
        with self.engine.begin() as conn:
            legacy = conn.execute(
                update(Message)
                .where(
                    Message.status == Status.SENDING.value,
                    Message.lease_until.is_(None),
                    Message.updated_at < sending_before,
                )
                .values(status=Status.QUEUED.value, recovered=True, next_attempt_at=now)
            ).rowcount
            expired = conn.execute(
                select(Message.id, Message.lease_owner, Message.lease_until).where(
                    Message.status == Status.SENDING.value,
                    Message.lease_until < leases.dead_before(now),
                )
            ).all()
            dead = sorted(
                (r for r in expired if r.lease_until and leases.is_dead(r.lease_until, now)),
                key=lambda r: str(r.id),  # the order outcome writes lock rows in: no deadlock
            )
            taken = self._take_back_leased(conn, dead, now)
        if legacy or taken:
            owners = Counter(str(r.lease_owner) for r in dead)
            log.warning(
                "took back %d messages from dead send batches %s (%d claimed without a lease)",
                taken + legacy,
                dict(owners),
                legacy,
            )
        return int(legacy) + taken

    @staticmethod
    def _take_back_leased(
        conn: Connection,
        dead: Sequence[Row[str, str | None, datetime | None]],
        now: datetime,
    ) -> int:
        if not dead:
            return 0
        result = conn.execute(
            update(Message)
            .where(
                Message.id == bindparam("b_id"),
                status_of_row() == Status.SENDING.value,
                Message.lease_owner == bindparam("b_owner"),
                Message.lease_until == bindparam("b_until", type_=Message.lease_until.type),
            )
            .values(
                status=Status.QUEUED.value, recovered=True, next_attempt_at=now, lease_until=None
            ),
            [{"b_id": r.id, "b_owner": r.lease_owner, "b_until": r.lease_until} for r in dead],
        )
        return int(result.rowcount)

    def renew_leases(self, lease: SendLease, ids: Sequence[str]) -> int:
        """Extend `lease` to `lease.until` on those of `ids` it still holds; how many."""
        if not ids:
            return 0
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                params = {"until": naive_utc(lease.until), "ids": list(ids), "owner": lease.owner}
                return int(conn.exec_driver_sql(_RENEW, params).rowcount)
            return int(
                conn.execute(
                    update(Message)
                    .where(
                        Message.id.in_(list(ids)),
                        status_of_row() == Status.SENDING.value,
                        Message.lease_owner == lease.owner,
                    )
                    .values(lease_until=lease.until)
                ).rowcount
            )

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
                select(Message.id, Message.callback_url, Message.account_id).where(
                    Message.status.in_(OPEN_STATUSES), Message.valid_until < now
                )
            ).all()
            if rows:
                conn.execute(
                    update(Message)
                    .where(Message.id.in_([r.id for r in rows]), status_of_row().in_(OPEN_STATUSES))
                    .values(status=Status.EXPIRED.value, final_at=now, updated_at=now)
                )
            changes = [
                StatusChange(r.id, Status.EXPIRED.value, r.callback_url, r.account_id) for r in rows
            ]
            return callback_outbox.add_events(conn, changes, now)
