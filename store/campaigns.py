"""The campaign store: campaigns, their state changes, release slices, progress, the report.

A campaign's messages are ordinary `messages` rows (`campaign_id` set), `scheduled` until a
release slice makes them `queued`. Every change of a campaign's state, and every release,
first locks the campaign row (PostgreSQL `FOR UPDATE`; SQLite's one write lock), so a cancel
and a release never interleave: after a cancel commits, none of its messages is `queued` or
`scheduled` any more, and a worker only ever claims `queued` rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    String,
    func,
    insert,
    literal,
    null,
    select,
    union_all,
    update,
)

from messaging import MessageClass, Status
from store.campaign_audience import AudienceLoad
from store.campaign_records import (
    CampaignProgress,
    CampaignRecord,
    LiveCampaign,
    NewCampaign,
    Released,
    ReportRow,
)
from store.models import Attempt, Campaign, CampaignSkip, Message, OptOut
from store.open_status import is_due

RUNNING = "running"
PAUSED = "paused"
COMPLETED = "completed"
CANCELED = "canceled"
OPTED_OUT_CODE = "recipient_opted_out"
CAMPAIGNS = Campaign.__table__
_TAKEN_BACK = (Status.SCHEDULED.value, Status.QUEUED.value)  # what a cancel cancels


def _record(c: Row[Any]) -> CampaignRecord:
    return CampaignRecord(
        id=c.id,
        account_id=c.account_id,
        name=c.name,
        sender=c.sender,
        template=c.template,
        message_class=c.message_class,
        state=c.state,
        start_at=c.start_at,
        max_rate=c.max_rate,
        send_window=c.send_window,
        validity_seconds=c.validity_seconds,
        zones=tuple(z for z in c.zones.split("\n") if z) if c.zones else (),
        recipients=c.recipients,
        duplicates=c.duplicates,
        skipped=c.skipped,
        opted_out=c.opted_out,
        released=c.released,
        last_release_at=c.last_release_at,
        created_at=c.created_at,
        updated_at=c.updated_at,
        started_at=c.started_at,
        finished_at=c.finished_at,
    )


def _decimal(value: Any) -> Decimal | None:
    return Decimal(value) if value is not None else None


class CampaignStore:
    """Campaign rows and the campaign side of `messages`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def postgresql(self) -> bool:
        """True on PostgreSQL."""
        return self.engine.dialect.name == "postgresql"

    def create(self, campaign: NewCampaign) -> None:
        """Insert a campaign in `draft`."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(Campaign).values(
                    **campaign.__dict__, state="draft", updated_at=campaign.created_at
                )
            )

    def audience_load(self, campaign_id: str, now: datetime) -> AudienceLoad:
        """A load of this campaign's audience (see `store.campaign_audience`)."""
        return AudienceLoad(self.engine, campaign_id, now)

    def get(self, account_id: str, campaign_id: str) -> CampaignRecord | None:
        """The account's campaign, or None."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(CAMPAIGNS).where(
                    CAMPAIGNS.c.id == campaign_id, CAMPAIGNS.c.account_id == account_id
                )
            ).first()
        return _record(found) if found is not None else None

    def _locked(self, conn: Connection, campaign_id: str) -> Row[Any] | None:
        query = select(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id)
        if self.postgresql:
            query = query.with_for_update()
        return conn.execute(query).first()

    def transition(
        self,
        account_id: str,
        campaign_id: str,
        decide: Callable[[str], str],
        now: datetime,
    ) -> tuple[CampaignRecord, int] | None:
        """Move the campaign to `decide(state)` (which raises when the state forbids it); the
        campaign after, and how many messages a cancel took back. None: no such campaign."""
        with self.engine.begin() as conn:
            campaign = self._locked(conn, campaign_id)
            if campaign is None or campaign.account_id != account_id:
                return None
            target = decide(campaign.state)
            values: dict[str, Any] = {"state": target, "updated_at": now}
            if campaign.started_at is None and target == RUNNING:
                values["started_at"] = now
            taken_back = 0
            if target == CANCELED:
                values["finished_at"] = now
                taken_back = conn.execute(
                    update(Message)
                    .where(Message.campaign_id == campaign_id, Message.status.in_(_TAKEN_BACK))
                    .values(status=Status.CANCELED.value, final_at=now, updated_at=now)
                ).rowcount
            conn.execute(update(Campaign).where(Campaign.id == campaign_id).values(**values))
            after = self._locked(conn, campaign_id)
            assert after is not None
            record = _record(after)
        return record, taken_back

    # -- release --------------------------------------------------------------------------

    def running(self, now: datetime) -> list[CampaignRecord]:
        """Campaigns that are running and past their start time, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(CAMPAIGNS)
                .where(CAMPAIGNS.c.state == RUNNING, CAMPAIGNS.c.start_at <= now)
                .order_by(CAMPAIGNS.c.created_at)
            ).all()
            return [_record(c) for c in rows]

    def marketing_backlog(self, now: datetime) -> int:
        """Marketing messages queued and due at `now` (any account): what the carriers have yet
        to take. One waiting out a retry's backoff (its carriers failed it a moment ago) is not
        in the way of a slice: counting it held campaigns back while their carriers had room."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(
                        Message.status == Status.QUEUED.value,
                        Message.message_class == MessageClass.MARKETING.value,
                        is_due(now),
                    )
                ).scalar_one()
            )

    def release(
        self,
        campaign_id: str,
        zones: Sequence[str],
        limit: int,
        now: datetime,
        mark_after: Callable[[int], datetime] | None = None,
    ) -> Released:
        """Make up to `limit` scheduled messages of the campaign whose zone is in `zones`
        `queued` (opted-out recipients `rejected` instead), if the campaign still runs; mark
        it `completed` when nothing is left scheduled. `last_release_at` becomes
        `mark_after(messages queued)` (the pace mark, `campaigns.advance_mark`), or `now`."""
        with self.engine.begin() as conn:
            campaign = self._locked(conn, campaign_id)
            if campaign is None or campaign.state != RUNNING:
                return Released()
            picked: list[Any] = []
            if zones and limit > 0:
                picked = list(
                    conn.execute(
                        select(Message.id, Message.to)
                        .where(
                            Message.campaign_id == campaign_id,
                            Message.status == Status.SCHEDULED.value,
                            Message.release_zone.in_(list(zones)),
                        )
                        .limit(limit)
                    ).all()
                )
            opted = self._opted_out(conn, campaign.account_id, {r.to for r in picked})
            rejected = [r.id for r in picked if r.to in opted]
            queued = [r.id for r in picked if r.to not in opted]
            if rejected:
                conn.execute(
                    update(Message)
                    .where(Message.id.in_(rejected))
                    .values(
                        status=Status.REJECTED.value,
                        error_code=OPTED_OUT_CODE,
                        final_at=now,
                        updated_at=now,
                    )
                )
            if queued:
                # created_at = the release: other accounts' older marketing is claimed first.
                conn.execute(
                    update(Message)
                    .where(Message.id.in_(queued))
                    .values(
                        status=Status.QUEUED.value,
                        created_at=now,
                        updated_at=now,
                        valid_until=now + timedelta(seconds=campaign.validity_seconds),
                    )
                )
            values: dict[str, Any] = {
                "last_release_at": now if mark_after is None else mark_after(len(queued)),
                "released": Campaign.released + len(picked),
            }
            completed = False
            if campaign.released + len(picked) >= campaign.recipients:
                left = conn.execute(
                    select(Message.id)
                    .where(
                        Message.campaign_id == campaign_id,
                        Message.status == Status.SCHEDULED.value,
                    )
                    .limit(1)
                ).first()
                if left is None:
                    values.update(state=COMPLETED, finished_at=now, updated_at=now)
                    completed = True
            conn.execute(update(Campaign).where(Campaign.id == campaign_id).values(**values))
        return Released(tuple(queued), tuple(rejected), completed)

    @staticmethod
    def _opted_out(conn: Connection, account_id: str, numbers: set[str]) -> set[str]:
        if not numbers:
            return set()
        found = conn.execute(
            select(OptOut.number).where(
                OptOut.account_id == account_id, OptOut.number.in_(sorted(numbers))
            )
        ).scalars()
        return set(found)

    # -- progress and report ----------------------------------------------------------------

    def progress(self, campaign_id: str, now: datetime) -> CampaignProgress:
        """Messages by status, cost of their attempts so far, messages sent in the last minute."""
        with self.engine.connect() as conn:
            by_status = {
                str(status): int(n)
                for status, n in conn.execute(
                    select(Message.status, func.count())
                    .where(Message.campaign_id == campaign_id)
                    .group_by(Message.status)
                ).all()
            }
            cost, currency, attempts = conn.execute(
                select(func.sum(Attempt.cost), func.max(Attempt.currency), func.count())
                .select_from(Attempt)
                .join(Message, Message.id == Attempt.message_id)
                .where(Message.campaign_id == campaign_id)
            ).one()
            recent = conn.execute(
                select(func.count()).where(
                    Message.campaign_id == campaign_id,
                    Message.status.notin_(_TAKEN_BACK),
                    Message.sent_at >= now - timedelta(seconds=60),
                )
            ).scalar_one()
        return CampaignProgress(
            by_status=by_status,
            cost=Decimal(cost or 0),
            currency=currency,
            sent_last_minute=int(recent),
            attempts=int(attempts),
        )

    def live(self, account_id: str) -> list[LiveCampaign]:
        """The account's running and paused campaigns, messages counted by status (and the
        scheduled ones by release zone), oldest first: one statement for all of them.

        The count groups by `ix_messages_campaign_status_zone`'s own columns (campaign, status,
        zone), so PostgreSQL answers it from that index alone (an index-only scan, no heap)
        and SQLite from the covering index; its cost grows with the live campaigns' messages
        (~0.6 µs each on PostgreSQL, `bench/campaign_live.py`), not with the table.
        """
        live_ids = (
            select(CAMPAIGNS.c.id)
            .where(CAMPAIGNS.c.account_id == account_id, CAMPAIGNS.c.state.in_((RUNNING, PAUSED)))
            .scalar_subquery()
        )
        counts = (
            select(
                Message.campaign_id,
                Message.status,
                Message.release_zone,
                func.count().label("n"),
            )
            .where(Message.campaign_id.in_(live_ids))
            .group_by(Message.campaign_id, Message.status, Message.release_zone)
            .subquery()
        )
        query = (
            select(
                CAMPAIGNS.c.id,
                CAMPAIGNS.c.name,
                CAMPAIGNS.c.state,
                CAMPAIGNS.c.start_at,
                CAMPAIGNS.c.max_rate,
                CAMPAIGNS.c.send_window,
                CAMPAIGNS.c.recipients,
                CAMPAIGNS.c.skipped,
                counts.c.status,
                counts.c.release_zone,
                counts.c.n,
            )
            .select_from(CAMPAIGNS.outerjoin(counts, counts.c.campaign_id == CAMPAIGNS.c.id))
            .where(CAMPAIGNS.c.account_id == account_id, CAMPAIGNS.c.state.in_((RUNNING, PAUSED)))
            .order_by(CAMPAIGNS.c.created_at, CAMPAIGNS.c.id)
        )
        found: dict[str, LiveCampaign] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                live = found.get(row.id)
                if live is None:
                    live = found[row.id] = LiveCampaign(
                        id=row.id,
                        name=row.name,
                        state=row.state,
                        start_at=row.start_at,
                        max_rate=row.max_rate,
                        send_window=row.send_window,
                        recipients=row.recipients,
                        skipped=row.skipped,
                        by_status={},
                        scheduled_by_zone={},
                    )
                if row.status is None:  # the outer join: a campaign with no messages yet
                    continue
                live.by_status[row.status] = live.by_status.get(row.status, 0) + int(row.n)
                if row.status == Status.SCHEDULED.value and row.release_zone is not None:
                    live.scheduled_by_zone[row.release_zone] = int(row.n)
        return list(found.values())

    def report(self, campaign_id: str, batch: int = 5000) -> Iterator[ReportRow]:
        """Every audience row by line: each message with its last carrier and total cost,
        each skipped row with its reason (as `status` `skipped`, the reason as error code)."""
        last_carrier = (
            select(Attempt.carrier)
            .where(Attempt.message_id == Message.id)
            .order_by(Attempt.number.desc())
            .limit(1)
            .scalar_subquery()
        )
        cost = (
            select(func.sum(Attempt.cost)).where(Attempt.message_id == Message.id).scalar_subquery()
        )
        messages = select(
            Message.campaign_line.label("line"),
            Message.to,
            Message.status,
            Message.error_code,
            last_carrier.label("carrier"),
            cost.label("cost"),
            Message.id,
        ).where(Message.campaign_id == campaign_id)
        skips = select(
            CampaignSkip.line,
            CampaignSkip.number,
            literal("skipped", String),
            CampaignSkip.reason,
            null(),
            null(),
            null(),
        ).where(CampaignSkip.campaign_id == campaign_id)
        both = union_all(messages, skips).subquery()
        query = select(both).order_by(both.c.line)
        # One connection: SQLite begins every transaction IMMEDIATE, a second would wait.
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
            for r in result:
                yield ReportRow(r[0], r[1], r[2], r[3], r[4], _decimal(r[5]), r[6])
