"""Group read: concurrent `GET /v1/messages/{id}` share one query on one reader thread.

Profiled before (bench/api.py, SQLite, 32 clients): ~960 GET/s, 60% of the API's time in
SQLite executing three statements per request (one of them a scan of `parts`), the rest in
a thread hop per request and building ORM statements. Here every GET waiting when the reader
thread comes round is answered by one statement (`MessageStore.read_messages`), and the thread
wakes the event loop once per group, not once per request — the read twin of `GroupCommitter`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence

from store import MessageView

log = logging.getLogger(__name__)

ReadMany = Callable[[Sequence[tuple[str, str]]], list[MessageView | None]]
_Item = tuple[str, str, asyncio.Future[MessageView | None], asyncio.AbstractEventLoop]
_Settled = list[tuple[asyncio.Future[MessageView | None], MessageView | None, BaseException | None]]


class GroupReader:
    """One reader thread drains waiting reads and answers them with one query."""

    def __init__(self, read_many: ReadMany, max_batch: int = 200) -> None:
        self.read_many = read_many
        self.max_batch = max_batch
        self.reads = 0
        self.queries = 0
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-read", daemon=True)
        self._thread.start()

    async def get(self, account_id: str, message_id: str) -> MessageView | None:
        """The message if it exists and belongs to `account_id`, else None."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[MessageView | None] = loop.create_future()
        self._queue.put((account_id, message_id, future, loop))
        return await future

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
            self._read(batch)

    def _read(self, batch: list[_Item]) -> None:
        views: list[MessageView | None] = [None] * len(batch)
        error: BaseException | None = None
        try:
            views = self.read_many([(account, message) for account, message, _, _ in batch])
        except Exception as exc:
            log.exception("read of %d messages failed", len(batch))
            error = exc
        self.queries += 1
        self.reads += len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, _Settled] = defaultdict(list)
        for (_, _, future, loop), view in zip(batch, views, strict=True):
            by_loop[loop].append((future, view, error))
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_settle, settled)

    def close(self) -> None:
        """Answer what is queued and stop the reader thread."""
        self._queue.put(None)
        self._thread.join(timeout=10)


def _settle(settled: _Settled) -> None:
    for future, view, error in settled:
        if future.done():
            continue
        if error is None:
            future.set_result(view)
        else:
            future.set_exception(error)
