"""Group commit: concurrent requests share one transaction, then one enqueue per class.

`202 Accepted` is answered only after the row is committed (ARCHITECTURE.md invariant 1). Many
requests arriving together are written in one INSERT and one COMMIT, which is what lets one API
process accept thousands of messages a second on SQLite or PostgreSQL alike. If the enqueue after
the commit fails, the request still succeeds: the outbox sweeper finds the queued row.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from api.problems import is_database_unavailable
from messaging import MessageClass
from metrics import count_accepted
from store import KeyCompletion, MessageStore, NewMessage

log = logging.getLogger(__name__)


class Outbox(Protocol):
    """Where committed message ids go to be sent (a Celery queue per class in production)."""

    def enqueue(self, message_class: str, ids: Sequence[str]) -> None:
        """Hand `ids` of one class to the workers."""
        ...


# A unit: rows committed together or not at all (one request: one row, or a whole batch), with
# the answer of the idempotency key it was sent under, if any (written in the same transaction),
# and when it was queued (time.monotonic: the linger counts from the first unit's arrival).
_Item = tuple[
    tuple[NewMessage, ...],
    asyncio.Future[None],
    asyncio.AbstractEventLoop,
    tuple[KeyCompletion, ...],
    float,
]


class GroupCommitter:
    """One writer thread drains waiting units, commits them together, enqueues, then answers.

    A unit is one request's rows: a single message or a whole batch, which is never split and
    never half-committed. Units of many requests share one transaction; if it fails, each unit
    is written alone, so one bad unit fails only its own request.

    `linger`: when the writer finds fewer than `linger_rows` rows waiting, it waits up to this
    many seconds from the first unit's arrival for more, unless a unit holds an urgent class
    (OTP never waits). Under load the units pile up while the previous commit runs, so the
    linger only acts at moderate rates, where each POST would otherwise be a transaction (and
    a publish) of its own: that doubled the CPU per message at 1,000 msg/s offered.
    """

    def __init__(
        self,
        store: MessageStore,
        outbox: Outbox,
        max_batch: int = 500,
        linger: float = 0.0,
        linger_rows: int = 32,
        urgent: Collection[str] = (MessageClass.OTP.value,),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if linger < 0 or linger_rows <= 0:
            raise ValueError(
                f"linger must be >= 0 and linger_rows > 0, not {linger}, {linger_rows}"
            )
        self.store = store
        self.outbox = outbox
        self.max_batch = max_batch
        self.linger = linger
        self.linger_rows = linger_rows
        self._urgent = frozenset(urgent)
        self._clock = clock
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self.commits = 0
        self.rows = 0
        self.enqueue_failures = 0
        self.database_down = False  # for one WARN line per outage, and one when it ends
        self._thread.start()

    def waiting(self) -> int:
        """Units queued for the writer thread (approximate; for backpressure)."""
        return self._queue.qsize()

    async def commit(self, row: NewMessage, key: KeyCompletion | None = None) -> None:
        """Return once `row` is committed (raises what the database raised)."""
        await self.commit_many((row,), key)

    async def commit_many(
        self, rows: Sequence[NewMessage], key: KeyCompletion | None = None
    ) -> None:
        """Return once every row of `rows` is committed, in one transaction (or none is: raises
        what the database raised), with `key`'s answer. Their ids are enqueued, one enqueue
        per class, after."""
        if not rows:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put(
            (tuple(rows), future, loop, (key,) if key is not None else (), self._clock())
        )
        await future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            self._write(self._gather(first))

    def _gather(self, first: _Item) -> list[_Item]:
        """`first` and the units queued behind it, up to `max_batch` rows; lingering for more
        while the group is small, not urgent, and younger than `linger`."""
        batch = [first]
        size = len(first[0])
        deadline = first[4] + self.linger
        urgent = self._holds_urgent(first)
        while size < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                wait = deadline - self._clock()
                if urgent or size >= self.linger_rows or wait <= 0:
                    break
                try:
                    item = self._queue.get(timeout=wait)
                except queue.Empty:
                    break
            if item is None:
                self._queue.put(None)
                break
            batch.append(item)
            size += len(item[0])
            urgent = urgent or self._holds_urgent(item)
        return batch

    def _holds_urgent(self, item: _Item) -> bool:
        return bool(self._urgent) and any(row.message_class in self._urgent for row in item[0])

    def _write(self, batch: list[_Item]) -> None:
        errors: list[BaseException | None] = [None] * len(batch)
        try:
            self.store.insert_messages(
                [row for rows, _, _, _, _ in batch for row in rows],
                [key for _, _, _, keys, _ in batch for key in keys],
            )
        except Exception as exc:
            if is_database_unavailable(exc):  # no row is at fault: all answer 503, none written
                errors = [exc] * len(batch)
                if not self.database_down:
                    log.warning("database unavailable, answering 503 until it is back: %s", exc)
                self.database_down = True
            elif len(batch) == 1:
                log.exception("commit of %d rows failed", len(batch[0][0]))
                errors[0] = exc
            else:  # one bad unit must not fail its neighbours: write them one by one
                log.warning(
                    "group commit of %d units failed (%s); committing one by one", len(batch), exc
                )
                for i, (rows, _, _, keys, _) in enumerate(batch):
                    try:
                        self.store.insert_messages(rows, keys)
                    except Exception as single:
                        log.exception("commit of %d rows from %s failed", len(rows), rows[0].id)
                        errors[i] = single
        committed = [
            rows for (rows, _, _, _, _), error in zip(batch, errors, strict=True) if not error
        ]
        if committed and self.database_down:
            log.warning("database is back: commits resume")
            self.database_down = False
        if committed:
            self.commits += 1
            self.rows += sum(len(rows) for rows in committed)
            by_class: dict[str, list[str]] = defaultdict(list)
            for rows in committed:
                for row in rows:
                    by_class[row.message_class].append(row.id)
            count_accepted({c: len(ids) for c, ids in by_class.items()})  # metrics, per group
            try:
                for message_class, ids in by_class.items():
                    self.outbox.enqueue(message_class, ids)
            except Exception:
                self.enqueue_failures += 1
                log.exception(
                    "enqueue after commit failed; the sweeper will re-enqueue %d rows",
                    sum(len(rows) for rows in committed),
                )
        # One wake-up per event loop for the whole group, not one per request.
        by_loop: dict[asyncio.AbstractEventLoop, _Settled] = defaultdict(list)
        for (_, future, loop, _, _), error in zip(batch, errors, strict=True):
            by_loop[loop].append((future, error))
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_settle, settled)

    def close(self) -> None:
        """Finish what is queued and stop the writer thread."""
        self._queue.put(None)
        self._thread.join(timeout=10)


_Settled = list[tuple[asyncio.Future[None], BaseException | None]]


def _settle(settled: _Settled) -> None:
    for future, error in settled:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
