"""Group read: concurrent requests' lookups share one query on one reader thread.

Profiled before (bench/api.py, SQLite, 32 clients): ~960 GET/s, 60% of the API's time in
SQLite executing three statements per request (one of them a scan of `parts`), the rest in
a thread hop per request and building ORM statements. Here every GET waiting when the reader
thread comes round is answered by one statement (`MessageStore.read_messages`), and the thread
wakes the event loop once per group, not once per request — the read twin of `GroupCommitter`.
The same machinery screens marketing recipients against the opt-out list (`GroupLookup` over
`MessageStore.opted_out`): a query per request there had tripled the API's CPU per message.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from store import MessageView

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")


class GroupLookup(Generic[K, V]):
    """One thread drains waiting lookups and answers them all with one `lookup_many` call.

    `linger`: when it finds fewer than `linger_keys` waiting, it waits up to this many seconds
    from the first one's arrival for more (as `GroupCommitter` does): at moderate rates every
    lookup was a query, a thread wake-up and an event-loop wake-up of its own.
    """

    def __init__(
        self,
        lookup_many: Callable[[Sequence[K]], list[V]],
        max_batch: int = 200,
        name: str = "",
        linger: float = 0.0,
        linger_keys: int = 32,
        threads: int = 1,
    ) -> None:
        """`threads`: readers draining the queue side by side. With one, a group's round trip
        to the database is dead time for every request that arrives during it (GET at 32
        clients was bounded by that wait, not by CPU: the API process used 0.6 cores)."""
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.lookup_many = lookup_many
        self.max_batch = max_batch
        self.linger = linger
        self.linger_keys = linger_keys
        self.reads = 0
        self.queries = 0
        self._queue: queue.SimpleQueue[
            tuple[K, asyncio.Future[V], asyncio.AbstractEventLoop, float] | None
        ] = queue.SimpleQueue()
        self._name = name or "group-lookup"
        self._counted = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, name=f"{self._name}-{n}", daemon=True)
            for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    async def lookup(self, key: K) -> V:
        """The answer for `key` (raises what the query raised)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V] = loop.create_future()
        self._queue.put((key, future, loop, time.monotonic()))
        return await future

    async def lookup_all(self, keys: Sequence[K]) -> list[V]:
        """The answers for many keys at once (a batch request's), in their order: one
        `lookup_many` call on an executor thread, not a future per key through the group."""
        loop = asyncio.get_running_loop()
        answers = await loop.run_in_executor(None, self.lookup_many, list(keys))
        self._count(len(keys))
        return answers

    def _count(self, reads: int) -> None:
        with self._counted:
            self.queries += 1
            self.reads += reads

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._queue.put(None)  # for the next reader
                return
            batch = [first]
            deadline = first[3] + self.linger
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    wait = deadline - time.monotonic()
                    if len(batch) >= self.linger_keys or wait <= 0:
                        break
                    try:
                        item = self._queue.get(timeout=wait)
                    except queue.Empty:
                        break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            self._read(batch)

    def _read(
        self, batch: list[tuple[K, asyncio.Future[V], asyncio.AbstractEventLoop, float]]
    ) -> None:
        answers: list[V | None] = [None] * len(batch)
        error: BaseException | None = None
        try:
            answers = list(self.lookup_many([key for key, _, _, _ in batch]))
        except Exception as exc:
            log.exception("%s: lookup of %d keys failed", self._name, len(batch))
            error = exc
        self._count(len(batch))
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[V], V | None]]] = (
            defaultdict(list)
        )
        for (_, future, loop, _), answer in zip(batch, answers, strict=True):
            by_loop[loop].append((future, answer))
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_settle, settled, error)

    def close(self) -> None:
        """Answer what is queued and stop the reader threads (each passes the stop on)."""
        self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)


def _settle(settled: list[tuple[asyncio.Future[V], V | None]], error: BaseException | None) -> None:
    for future, answer in settled:
        if future.done():
            continue
        if error is None:
            future.set_result(answer)  # type: ignore[arg-type]  # an answer for every key
        else:
            future.set_exception(error)


class GroupReader(GroupLookup[tuple[str, str], MessageView | None]):
    """`GET /v1/messages/{id}`: messages by (account id, message id), one statement a group."""

    def __init__(
        self,
        read_many: Callable[[Sequence[tuple[str, str]]], list[MessageView | None]],
        max_batch: int = 200,
        threads: int = 2,
    ) -> None:
        super().__init__(read_many, max_batch, "group-read", threads=threads)

    async def get(self, account_id: str, message_id: str) -> MessageView | None:
        """The message if it exists and belongs to `account_id`, else None."""
        return await self.lookup((account_id, message_id))


class OptOutScreen(GroupLookup[tuple[str, str], bool]):
    """Is (account id, number) on the account's opt-out list? One query a group."""

    def __init__(
        self,
        opted_out: Callable[[Sequence[tuple[str, str]]], set[tuple[str, str]]],
        linger: float = 0.0,
    ) -> None:
        """`linger`: see `GroupLookup` (only marketing is screened; it is never urgent)."""

        def many(pairs: Sequence[tuple[str, str]]) -> list[bool]:
            found = opted_out(pairs)
            return [pair in found for pair in pairs]

        super().__init__(many, 500, "opt-out-screen", linger)
