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
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from api.problems import is_database_unavailable
from store import MessageStore, NewMessage

log = logging.getLogger(__name__)


class Outbox(Protocol):
    """Where committed message ids go to be sent (a Celery queue per class in production)."""

    def enqueue(self, message_class: str, ids: Sequence[str]) -> None:
        """Hand `ids` of one class to the workers."""
        ...


_Item = tuple[NewMessage, asyncio.Future[None], asyncio.AbstractEventLoop]


class GroupCommitter:
    """One writer thread drains waiting rows, commits them together, enqueues, then answers."""

    def __init__(self, store: MessageStore, outbox: Outbox, max_batch: int = 500) -> None:
        self.store = store
        self.outbox = outbox
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self.commits = 0
        self.rows = 0
        self.enqueue_failures = 0
        self.database_down = False  # for one WARN line per outage, and one when it ends
        self._thread.start()

    async def commit(self, row: NewMessage) -> None:
        """Return once `row` is committed (raises what the database raised)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put((row, future, loop))
        await future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[_Item]) -> None:
        errors: list[BaseException | None] = [None] * len(batch)
        try:
            self.store.insert_messages([row for row, _, _ in batch])
        except Exception as exc:
            if is_database_unavailable(exc):  # no row is at fault: all answer 503, none written
                errors = [exc] * len(batch)
                if not self.database_down:
                    log.warning("database unavailable, answering 503 until it is back: %s", exc)
                self.database_down = True
            elif len(batch) == 1:
                log.exception("commit of one row failed")
                errors[0] = exc
            else:  # one bad row must not fail its neighbours: write them one by one
                log.warning(
                    "group commit of %d rows failed (%s); committing one by one", len(batch), exc
                )
                for i, (row, _, _) in enumerate(batch):
                    try:
                        self.store.insert_messages([row])
                    except Exception as single:
                        log.exception("commit of message %s failed", row.id)
                        errors[i] = single
        committed = [item for item, error in zip(batch, errors, strict=True) if error is None]
        if committed and self.database_down:
            log.warning("database is back: commits resume")
            self.database_down = False
        if committed:
            self.commits += 1
            self.rows += len(committed)
            by_class: dict[str, list[str]] = defaultdict(list)
            for row, _, _ in committed:
                by_class[row.message_class].append(row.id)
            try:
                for message_class, ids in by_class.items():
                    self.outbox.enqueue(message_class, ids)
            except Exception:
                self.enqueue_failures += 1
                log.exception(
                    "enqueue after commit failed; the sweeper will re-enqueue %d rows",
                    len(committed),
                )
        for (_, future, loop), error in zip(batch, errors, strict=True):
            loop.call_soon_threadsafe(_settle, future, error)

    def close(self) -> None:
        """Finish what is queued and stop the writer thread."""
        self._queue.put(None)
        self._thread.join(timeout=10)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
