"""Loading a campaign's audience: rendered rows → `scheduled` messages, in one transaction.

The load holds one connection and transaction from `open` to `finish`: a refused upload
(`abort`) leaves nothing behind, and the previous audience of the draft is replaced whole.
The first line of each number wins (later duplicates are dropped and counted); numbers on the
account's opt-out list are skipped with every line they are on.

The database work runs in a writer thread of its own while the caller parses the next rows
(`add` hands a batch over a queue of `WRITE_AHEAD` batches, already shaped for the database),
so the two overlap: the database's share of a recipient is about twice Python's
(docs/performance.md, "Campaigns"). Each batch is staged in a temporary `campaign_batch` —
PostgreSQL `COPY` (psycopg's copy, one write of COPY text, no statement per row), SQLite
`executemany` (sqlite3 lets go of the GIL while it inserts) — and moved into `messages` at
once: its first line per number, less opt-outs, less numbers an earlier batch had (a temporary
`campaign_seen`, probed by its key). The rows reach `messages` while the upload still streams,
and `finish` has only the totals left to write. On SQLite the transaction holds the write lock
while the upload streams.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, text, update

from messaging import Status
from store.campaign_records import AudienceSkip, AudienceTotals
from store.ids import new_ids
from store.models import Campaign, CampaignSkip, Message, naive_utc

FIRST_SKIPS = 100  # skipped rows named in the answer; all are in the report
WRITE_AHEAD = 2  # batches parsed ahead of the writer (memory: 2 batches)
# (line, to, body, encoding, segments, zone): `AudienceMessage`, or `campaigns.ScheduledRow`
AudienceRow = tuple[int, str, str, str, int, str]
_COLUMNS = '(id, line, "to", body, encoding, segments, zone)'
_CREATE_BATCH_PG = (
    """CREATE TEMP TABLE campaign_batch (id varchar(32), line int, "to" varchar(20), body text,
                                 encoding varchar(8), segments int, zone text) ON COMMIT DROP""",
    'CREATE TEMP TABLE campaign_seen ("to" varchar(20) COLLATE "C" PRIMARY KEY, line int)'
    " ON COMMIT DROP",
)
_COPY_PG = f"COPY campaign_batch {_COLUMNS} FROM STDIN"
_OPTED_OUT_SKIPS = """
INSERT INTO campaign_skips (campaign_id, line, number, reason, detail)
SELECT :campaign, s.line, s."to", 'opted_out', 'the number is on the opt-out list'
FROM campaign_batch s JOIN opt_outs o ON o.account_id = :account AND o.number = s."to"
"""
_MESSAGE_COLUMNS = """(id, account_id, "to", sender, body, message_class, encoding, segments,
                      status, attempt_count, callback_events, callback_batch, secret_masked,
                      recovered, created_at, updated_at, valid_until, campaign_id,
                      campaign_line, release_zone)"""
_MESSAGE_VALUES = """s.id, CAST(:account AS VARCHAR(32)), s."to", :sender, s.body, :message_class,
       s.encoding, s.segments, :status, 0, 'all', false, false, false, :now, :now, :valid_until,
       :campaign, s.line, s.zone"""
# One batch into `messages`: its first line per number, unless opted out or seen before.
# `campaign_seen` is probed by its index (`OFFSET 0` keeps the planner from turning the NOT
# EXISTS into a hash anti-join, which reads the whole, growing table for every batch), not by
# `ON CONFLICT`, whose speculative insert costs more than the probe and the plain insert.
_MOVE_BATCH_PG = f"""
WITH fresh AS (
    INSERT INTO campaign_seen ("to", line)
    SELECT b."to", min(b.line) FROM campaign_batch b
    WHERE NOT EXISTS (SELECT 1 FROM campaign_seen s WHERE s."to" = b."to" OFFSET 0)
      AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.account_id = :account
                                                 AND o.number = b."to")
    GROUP BY b."to"
    RETURNING line
)
INSERT INTO messages {_MESSAGE_COLUMNS}
SELECT {_MESSAGE_VALUES}
FROM campaign_batch s JOIN fresh f ON f.line = s.line
"""  # noqa: S608 - built from this module's constants; the values are bound
_CREATE_BATCH_SQLITE = (
    """CREATE TEMP TABLE IF NOT EXISTS campaign_batch (id TEXT, line INTEGER, "to" TEXT,
                          body TEXT, encoding TEXT, segments INTEGER, zone TEXT)""",
    'CREATE TEMP TABLE IF NOT EXISTS campaign_seen ("to" TEXT PRIMARY KEY, line INTEGER)',
    "DELETE FROM campaign_batch",
    "DELETE FROM campaign_seen",
)
_STAGE_SQLITE = f"INSERT INTO campaign_batch {_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?)"  # noqa: S608 - as _MOVE_BATCH_PG
# The same move in two statements (SQLite has no INSERT in a WITH); SQLite probes
# `campaign_seen` by its key, and CROSS JOIN keeps the batch the outer loop.
_MOVE_BATCH_SQLITE = (
    """
INSERT INTO campaign_seen ("to", line)
SELECT b."to", min(b.line) FROM campaign_batch b
WHERE NOT EXISTS (SELECT 1 FROM campaign_seen s WHERE s."to" = b."to")
  AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.account_id = :account AND o.number = b."to")
GROUP BY b."to"
""",
    f"""
INSERT INTO messages {_MESSAGE_COLUMNS}
SELECT {_MESSAGE_VALUES}
FROM campaign_batch s CROSS JOIN campaign_seen f ON f."to" = s."to" AND f.line = s.line
""",  # noqa: S608 - as _MOVE_BATCH_PG
)
_STOP = None
# COPY's text format (PostgreSQL docs, COPY, "Text Format"): these four are escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
# What the writer is handed: COPY text (PostgreSQL) or parameter tuples (SQLite), skipped rows.
_Batch = tuple[bytes | list[tuple[Any, ...]] | None, Sequence[AudienceSkip]]


def copy_text(ids: Sequence[str], rows: Sequence[AudienceRow]) -> bytes:
    """`rows` with their ids as `COPY … FROM STDIN` text: one join instead of a `write_row` a
    row. Only the body can hold a character COPY escapes (numbers, encodings and zone names
    cannot), so only it is translated."""
    escapes = _COPY_ESCAPES
    return "".join(
        [
            f"{i}\t{line}\t{to}\t{body.translate(escapes)}\t{encoding}\t{segments}\t{zone}\n"
            for i, (line, to, body, encoding, segments, zone) in zip(ids, rows, strict=True)
        ]
    ).encode()


class AudienceLoad:
    """One audience upload: `open`, `add` batches, then `finish` (or `abort`).

    `open`, `add`, `finish` and `abort` are called from one thread; the writer thread that
    `open` starts is the only user of the connection until `finish` or `abort` stops it.
    """

    def __init__(self, engine: Engine, campaign_id: str, now: datetime) -> None:
        self.engine = engine
        self.campaign_id = campaign_id
        self.now = now
        self._conn: Connection | None = None
        self._staged = 0
        self._scheduled = 0
        self._opted_out = 0
        self._zones: set[str] = set()
        self._skips: Counter[str] = Counter()
        self._first_skips: list[AudienceSkip] = []
        self._campaign: Any = None
        self._params: dict[str, Any] = {}
        self._batches: queue.Queue[_Batch | None] = queue.Queue(maxsize=WRITE_AHEAD)
        self._writer: threading.Thread | None = None
        self._failure: BaseException | None = None

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
        campaign = self._campaign = conn.execute(query).first()
        if campaign is None:
            return None
        if self.postgresql:
            for statement in _CREATE_BATCH_PG:
                conn.exec_driver_sql(statement)
        else:
            for statement in _CREATE_BATCH_SQLITE:
                conn.exec_driver_sql(statement)
        # A new upload replaces the draft's audience.
        conn.execute(delete(Message).where(Message.campaign_id == self.campaign_id))
        conn.execute(delete(CampaignSkip).where(CampaignSkip.campaign_id == self.campaign_id))
        self._params = {
            "campaign": self.campaign_id,
            "account": campaign.account_id,
            "sender": campaign.sender,
            "message_class": campaign.message_class,
            "status": Status.SCHEDULED.value,
            "now": naive_utc(self.now),
            "valid_until": naive_utc(self.now + timedelta(seconds=campaign.validity_seconds)),
        }
        self._writer = threading.Thread(
            target=self._write_all, args=(conn,), name="audience-writer", daemon=True
        )
        self._writer.start()
        return str(campaign.state)

    def add(self, rows: Sequence[AudienceRow], skips: Sequence[AudienceSkip]) -> None:
        """Give rendered rows their ids, shape them for the database here (on the caller's
        thread, so the writer's time is the database's), and hand them and the skipped rows to
        the writer; waits while it is `WRITE_AHEAD` batches behind.

        Raises:
            whatever the writer met on an earlier batch (the caller aborts).
        """
        if self._writer is None:
            raise RuntimeError("AudienceLoad used before open()")
        staged: bytes | list[tuple[Any, ...]] | None = None
        if rows:
            self._staged += len(rows)
            self._zones.update(r[5] for r in rows)
            ids = new_ids(len(rows))
            staged = (
                copy_text(ids, rows)
                if self.postgresql
                else [(i, *r) for i, r in zip(ids, rows, strict=True)]
            )
        while True:
            self._raise_failure()
            try:
                self._batches.put((staged, skips), timeout=0.1)
                return
            except queue.Full:
                continue

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _write_all(self, conn: Connection) -> None:
        """The writer thread: write each batch until `_STOP`; keep the first failure."""
        try:
            while (batch := self._batches.get()) is not _STOP:
                staged, skips = batch
                if staged:
                    self._write(conn, staged)
                if skips:
                    self._skip(conn, skips)
        except BaseException as error:  # handed to the caller's thread (`add`, `finish`)
            self._failure = error
            while self._batches.get() is not _STOP:  # let `add` go on until it is told
                pass

    def _write(self, conn: Connection, staged: bytes | list[tuple[Any, ...]]) -> None:
        """Stage one batch, record its opted-out lines, move the rest into `messages`."""
        raw = conn.connection.driver_connection
        assert raw is not None
        params = self._params
        if isinstance(staged, bytes):
            with raw.cursor() as cursor:
                cursor.execute("TRUNCATE campaign_batch")
                with cursor.copy(_COPY_PG) as copy:
                    copy.write(staged)
        else:
            raw.execute("DELETE FROM campaign_batch")
            raw.executemany(_STAGE_SQLITE, staged)
        self._opted_out += conn.execute(text(_OPTED_OUT_SKIPS), params).rowcount
        if isinstance(staged, bytes):
            self._scheduled += conn.execute(text(_MOVE_BATCH_PG), params).rowcount
        else:
            seen, move = _MOVE_BATCH_SQLITE
            conn.execute(text(seen), params)
            self._scheduled += conn.execute(text(move), params).rowcount

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

    def _stop_writer(self) -> None:
        if self._writer is not None:
            self._batches.put(_STOP)
            self._writer.join()
            self._writer = None

    def finish(self) -> AudienceTotals:
        """Wait for the writer, record the totals on the campaign, commit.

        Raises:
            whatever the writer met (the caller aborts).
        """
        self._stop_writer()
        self._raise_failure()
        if self._conn is None:
            raise RuntimeError("AudienceLoad used before open()")
        conn = self._conn
        opted_out, scheduled = self._opted_out, self._scheduled
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
                zones="\n".join(sorted(self._zones)),
                recipients=scheduled,
                duplicates=duplicates,
                skipped=sum(self._skips.values()),
                opted_out=opted_out,
                updated_at=self.now,
            )
        )
        if not self.postgresql:  # PostgreSQL drops them at commit
            conn.exec_driver_sql("DROP TABLE campaign_batch")
            conn.exec_driver_sql("DROP TABLE campaign_seen")
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
        self._stop_writer()
        if self._conn is not None:
            self._conn.rollback()  # the staging tables too (SQLite DDL is transactional)
            self._close()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
