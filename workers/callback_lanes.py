"""Bounded concurrency per destination without a task or a semaphore waiter per POST.

The dispatcher used to start a task per POST that waited on its host's `asyncio.Semaphore`
and the global one. Under a backlog thousands of tasks waited, and each `acquire` ran
`Semaphore.locked()`, which walks every waiter while a released slot is not yet taken: 17% of
the dispatcher's CPU (py-spy, a send worker of `bench/e2e.py --callbacks`), plus a task per
POST. `Lanes` keeps the waiting jobs in a FIFO per key and runs them on *runners*: at most
`per_key` coroutines a key and `total` overall, each taking its key's next job as it finishes
one. A key that finds every slot of `total` taken waits its turn (`starved`); a runner that
finishes a job while a key waits so gives its slot to that key, so one busy host cannot hold
every slot while another waits.

No I/O here: `run(job)` does the work and must not raise; `spawn(coro)` schedules a runner on
the caller's event loop. Everything runs on that one loop's thread.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

J = TypeVar("J")


class Lanes(Generic[J]):
    """FIFO jobs per key, at most `per_key` running a key and `total` in all."""

    def __init__(
        self,
        per_key: int,
        total: int,
        run: Callable[[J], Awaitable[None]],
        spawn: Callable[[Coroutine[Any, Any, None]], object],
    ) -> None:
        if per_key < 1 or total < 1:
            raise ValueError(f"per_key and total must be >= 1, not {per_key} and {total}")
        self._per_key = per_key
        self._total = total
        self._run = run
        self._spawn = spawn
        self._waiting: dict[str, deque[J]] = {}  # key -> jobs no runner has taken yet
        self._runners: dict[str, int] = {}  # key -> runners working on it
        self._running = 0  # runners in all
        self._starved: deque[str] = deque()  # keys refused a runner because of `total`
        self.peak = 0  # most runners at once (tests, stats)

    def put(self, key: str, job: J) -> None:
        """Queue `job` behind `key`'s others; it starts now if a slot is free."""
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = deque()
        waiting.append(job)
        self._start(key)

    def waiting(self) -> int:
        """Jobs not started yet."""
        return sum(len(jobs) for jobs in self._waiting.values())

    def running(self) -> int:
        """Runners at work."""
        return self._running

    def _start(self, key: str) -> None:
        waiting = self._waiting.get(key)
        if not waiting or self._runners.get(key, 0) >= self._per_key:
            return
        if self._running >= self._total:
            if key not in self._starved:
                self._starved.append(key)
            return
        self._runners[key] = self._runners.get(key, 0) + 1
        self._running += 1
        self.peak = max(self.peak, self._running)
        self._spawn(self._runner(key, waiting.popleft()))  # the job is taken now, not later

    async def _runner(self, key: str, job: J) -> None:
        try:
            while True:
                await self._run(job)
                waiting = self._waiting.get(key)
                if not waiting or self._starved:  # nothing left, or another key's turn
                    break
                job = waiting.popleft()
        finally:
            self._running -= 1
            left = self._runners[key] - 1
            if left:
                self._runners[key] = left
            else:
                del self._runners[key]
            if not self._waiting.get(key):
                self._waiting.pop(key, None)
            self._wake()
            if self._waiting.get(key):  # this key still has work: back in line
                self._start(key)

    def _wake(self) -> None:
        """Give free slots to the keys that waited for one, in the order they asked."""
        for _ in range(len(self._starved)):
            if self._running >= self._total:
                return
            key = self._starved.popleft()
            self._start(key)
