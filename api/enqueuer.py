"""Publishes committed message ids to the workers off the commit path, many commits per publish.

The group committer used to publish a Celery task per class after each commit, on its own
thread, before answering: a kombu `send_task` costs ~0.3 ms of CPU whatever it carries, and
under load the commits are small (a few rows each), so publishing took a fifth of the API's
CPU. `CoalescingOutbox` takes the ids of every commit at once (no I/O on the committer's
thread) and a thread of its own publishes them: one task per class per `max_ids`, for all the
commits made while the previous publish ran or the class's linger ran. Urgent classes (OTP)
never linger; the others wait up to `linger` seconds from their first id, so one publish
carries many commits.

Durability is unchanged: the rows are committed before their ids arrive here. A failed
publish is counted and logged, and the outbox sweeper re-enqueues rows left `queued` (as it
did when the committer's own publish failed); ids waiting here at a crash are found the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence

from api.committer import Outbox
from messaging import MessageClass

log = logging.getLogger(__name__)


class CoalescingOutbox:
    """An `Outbox` that hands ids to `inner` from a publisher thread, coalesced per class."""

    def __init__(
        self,
        inner: Outbox,
        linger: float = 0.01,
        urgent: Collection[str] = (MessageClass.OTP.value,),
        max_ids: int = 200,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`linger`: seconds a non-urgent class waits from its first id for more (0: none);
        `max_ids`: ids per publish (a class with that many goes at once)."""
        if linger < 0 or max_ids <= 0:
            raise ValueError(f"linger must be >= 0 and max_ids > 0, not {linger}, {max_ids}")
        self._inner = inner
        self._linger = linger
        self._urgent = frozenset(urgent)
        self._max_ids = max_ids
        self._clock = clock
        self._pending: dict[str, list[str]] = defaultdict(list)
        self._since: dict[str, float] = {}  # class -> arrival of its first waiting id
        self._cond = threading.Condition()
        self._closed = False
        self.publishes = 0
        self.failures = 0  # failed publishes (their rows are re-enqueued by the sweeper)
        self._thread = threading.Thread(target=self._run, name="enqueue", daemon=True)
        self._thread.start()

    def enqueue(self, message_class: str, ids: Sequence[str]) -> None:
        """Take `ids` for publishing (returns at once)."""
        if not ids:
            return
        with self._cond:
            if self._closed:
                raise RuntimeError("the outbox is closed")
            waiting = self._pending[message_class]
            if not waiting:
                self._since[message_class] = self._clock()
            waiting.extend(ids)
            if (
                message_class in self._urgent
                or len(waiting) >= self._max_ids
                or self._linger == 0
                or len(self._since) == 1  # the thread may sleep without a deadline: wake it
            ):
                self._cond.notify()

    def waiting(self) -> int:
        """Ids taken and not yet published."""
        with self._cond:
            return sum(len(ids) for ids in self._pending.values())

    def _due(self, now: float) -> tuple[list[tuple[str, list[str]]], float | None]:
        """The classes to publish now (taken out), and when the next one is due."""
        due: list[tuple[str, list[str]]] = []
        next_at: float | None = None
        for message_class, since in list(self._since.items()):
            ids = self._pending[message_class]
            at = since + (0.0 if message_class in self._urgent else self._linger)
            if self._closed or at <= now or len(ids) >= self._max_ids:
                due.append((message_class, ids))
                del self._pending[message_class], self._since[message_class]
            else:
                next_at = at if next_at is None else min(next_at, at)
        due.sort(key=lambda item: item[0] not in self._urgent)  # OTP first
        return due, next_at

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    due, next_at = self._due(self._clock())
                    if due or self._closed:
                        break
                    self._cond.wait(None if next_at is None else max(0.0, next_at - self._clock()))
                closing = self._closed
            for message_class, ids in due:
                self._publish(message_class, ids)
            if closing:
                return

    def _publish(self, message_class: str, ids: list[str]) -> None:
        for start in range(0, len(ids), self._max_ids):
            chunk = ids[start : start + self._max_ids]
            try:
                self._inner.enqueue(message_class, chunk)
                self.publishes += 1
            except Exception:
                self.failures += 1
                log.exception(
                    "enqueue after commit failed; the sweeper will re-enqueue %d rows", len(chunk)
                )

    def close(self, timeout: float = 5.0) -> None:
        """Publish what waits, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)
