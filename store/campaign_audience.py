"""Loading a campaign's audience: rendered rows → `scheduled` messages, in one transaction.

Rows go first into a temporary staging table — PostgreSQL `COPY` (psycopg's copy, no
statement per row), batched inserts on SQLite — then one `INSERT … SELECT`
moves them into `messages`: the first line of each number wins (later duplicates are
dropped and counted), numbers on the account's opt-out list are skipped with their lines.
The load holds one connection and transaction from `open` to `finish`: a refused upload
(`abort`) leaves nothing behind, and the previous audience of the draft is replaced whole.
On SQLite that transaction holds the write lock while the upload streams.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, text, update

from messaging import Status
from store.campaign_records import AudienceMessage, AudienceSkip, AudienceTotals
from store.models import Campaign, CampaignSkip, Message, naive_utc

FIRST_SKIPS = 100  # skipped rows named in the answer; all are in the report
_COPY = 'COPY campaign_audience (id, line, "to", body, encoding, segments, zone) FROM STDIN'
_STAGE = (
    'INSERT INTO campaign_audience (id, line, "to", body, encoding, segments, zone) '
    "VALUES (:id, :line, :to, :body, :encoding, :segments, :zone)"
)
_ZONES = "SELECT DISTINCT zone FROM campaign_audience"

_CREATE_STAGING_PG = """
CREATE TEMP TABLE campaign_audience (id varchar(32), line int, "to" varchar(20), body text,
                             encoding varchar(8), segments int, zone text) ON COMMIT DROP
"""
_CREATE_STAGING_SQLITE = """
CREATE TEMP TABLE IF NOT EXISTS campaign_audience (id TEXT, line INTEGER, "to" TEXT, body TEXT,
                                           encoding TEXT, segments INTEGER, zone TEXT)
"""
_OPTED_OUT_SKIPS = """
INSERT INTO campaign_skips (campaign_id, line, number, reason, detail)
SELECT :campaign, s.line, s."to", 'opted_out', 'the number is on the opt-out list'
FROM campaign_audience s JOIN opt_outs o ON o.account_id = :account AND o.number = s."to"
"""
# The first line of each number (min(line) per number), unless it opted out.
_SCHEDULE = """
INSERT INTO messages (id, account_id, "to", sender, body, message_class, encoding, segments,
                      status, attempt_count, callback_events, callback_batch, secret_masked,
                      recovered, created_at, updated_at, valid_until, campaign_id,
                      campaign_line, release_zone)
SELECT s.id, CAST(:account AS VARCHAR(32)), s."to", :sender, s.body, :message_class, s.encoding,
       s.segments, :status, 0, 'all', false, false, false, :now, :now, :valid_until, :campaign,
       s.line, s.zone
FROM campaign_audience s
WHERE s.line IN (SELECT min(line) FROM campaign_audience GROUP BY "to")
  AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.account_id = :account AND o.number = s."to")
"""


class AudienceLoad:
    """One audience upload: `open`, `add` batches, then `finish` (or `abort`)."""

    def __init__(self, engine: Engine, campaign_id: str, now: datetime) -> None:
        self.engine = engine
        self.campaign_id = campaign_id
        self.now = now
        self._conn: Connection | None = None
        self._staged = 0
        self._skips: Counter[str] = Counter()
        self._first_skips: list[AudienceSkip] = []
        self._campaign: Any = None

    @property
    def postgresql(self) -> bool:
        """True on PostgreSQL (COPY), False on SQLite (batched inserts)."""
        return self.engine.dialect.name == "postgresql"

    def open(self, account_id: str) -> str | None:
        """Begin; lock the campaign; its state (None when the account has no such campaign).

        The caller checks the state and calls `abort` when it does not allow a load.
        """
        conn = self._conn = self.engine.connect()
        conn.begin()
        table = Campaign.__table__
        query = select(table).where(
            table.c.id == self.campaign_id, table.c.account_id == account_id
        )
        if self.postgresql:
            query = query.with_for_update()
        self._campaign = conn.execute(query).first()
        if self._campaign is None:
            return None
        if self.postgresql:
            conn.exec_driver_sql(_CREATE_STAGING_PG)
        else:
            conn.exec_driver_sql(_CREATE_STAGING_SQLITE)
            conn.exec_driver_sql("DELETE FROM campaign_audience")
        # A new upload replaces the draft's audience.
        conn.execute(delete(Message).where(Message.campaign_id == self.campaign_id))
        conn.execute(delete(CampaignSkip).where(CampaignSkip.campaign_id == self.campaign_id))
        return str(self._campaign.state)

    def _connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("AudienceLoad used before open()")
        return self._conn

    def add(self, rows: Sequence[AudienceMessage], skips: Sequence[AudienceSkip]) -> None:
        """Stage rendered rows and record skipped ones."""
        conn = self._connection()
        if rows:
            self._staged += len(rows)
            if self.postgresql:
                self._copy(conn, rows)
            else:
                conn.execute(
                    text(_STAGE),
                    [r.__dict__ for r in rows],
                )
        if skips:
            self._skip(conn, skips)

    def _copy(self, conn: Connection, rows: Sequence[AudienceMessage]) -> None:
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(_COPY) as copy:
            for r in rows:
                copy.write_row((r.id, r.line, r.to, r.body, r.encoding, r.segments, r.zone))

    def _skip(self, conn: Connection, skips: Sequence[AudienceSkip]) -> None:
        conn.execute(
            insert(CampaignSkip),
            [
                {
                    "campaign_id": self.campaign_id,
                    "line": s.line,
                    "number": s.number[:32],
                    "reason": s.reason,
                    "detail": s.detail[:200],
                }
                for s in skips
            ],
        )
        for s in skips:
            self._skips[s.reason] += 1
            if len(self._first_skips) < FIRST_SKIPS:
                self._first_skips.append(s)

    def finish(self) -> AudienceTotals:
        """Move the staged rows into `messages` (deduplicated, opt-outs skipped); commit."""
        conn = self._connection()
        campaign = self._campaign
        params = {"campaign": self.campaign_id, "account": campaign.account_id}
        opted_out = conn.execute(text(_OPTED_OUT_SKIPS), params).rowcount
        scheduled = conn.execute(
            text(_SCHEDULE),
            {
                **params,
                "sender": campaign.sender,
                "message_class": campaign.message_class,
                "status": Status.SCHEDULED.value,
                "now": naive_utc(self.now),
                "valid_until": naive_utc(self.now + timedelta(seconds=campaign.validity_seconds)),
            },
        ).rowcount
        zones = [str(z) for z in conn.exec_driver_sql(_ZONES).scalars()]
        duplicates = self._staged - opted_out - scheduled
        if opted_out:
            self._skips["opted_out"] += opted_out
            if len(self._first_skips) < FIRST_SKIPS:
                self._first_skips.extend(
                    AudienceSkip(r.line, r.number, r.reason, r.detail)
                    for r in conn.execute(
                        select(
                            CampaignSkip.line,
                            CampaignSkip.number,
                            CampaignSkip.reason,
                            CampaignSkip.detail,
                        )
                        .where(
                            CampaignSkip.campaign_id == self.campaign_id,
                            CampaignSkip.reason == "opted_out",
                        )
                        .order_by(CampaignSkip.line)
                        .limit(FIRST_SKIPS - len(self._first_skips))
                    ).all()
                )
        conn.execute(
            update(Campaign)
            .where(Campaign.id == self.campaign_id)
            .values(
                zones="\n".join(sorted(zones)),
                recipients=scheduled,
                duplicates=duplicates,
                skipped=sum(self._skips.values()),
                opted_out=opted_out,
                updated_at=self.now,
            )
        )
        if not self.postgresql:
            conn.exec_driver_sql("DROP TABLE campaign_audience")
        conn.commit()
        self._close()
        return AudienceTotals(
            recipients=scheduled,
            duplicates=duplicates,
            opted_out=opted_out,
            skipped=dict(self._skips),
            first_skips=tuple(sorted(self._first_skips, key=lambda s: s.line)),
        )

    def abort(self) -> None:
        """Roll everything back: nothing of this upload is stored."""
        if self._conn is not None:
            self._conn.rollback()  # the staging table too (SQLite DDL is transactional)
            self._close()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
