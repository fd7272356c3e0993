"""Callback POSTs: the `CallbackDispatcher` port, its aiohttp adapter and its in-memory twin.

`HttpDispatcher` keeps one `WebhookClient` (keep-alive connection pool, httptools parser: a
third of aiohttp's client CPU per POST) for the life of the worker process, on an event loop of
its own thread; Celery tasks, which are threads or
processes of their own, call `deliver()` and wait. POSTs run concurrently, at most `per_host`
at once to one host and `total` overall (`workers.callback_lanes`: a FIFO per host, no task
per waiting POST), each bounded by `timeout`. Events of messages sent
with `callback_batch` go to a `BatchWindow` shared by every task of the process: up to 100
events, or 100 ms from the first, per URL. Every POST goes through the SSRF guard
(`workers.callback_guard`): the URL is checked, the host's addresses are checked as they are
resolved, and redirects are not followed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import uvloop
from aiohttp.abc import AbstractResolver

from messaging import CallbackPolicy
from store import PendingCallback
from workers.callback_batches import BatchWindow
from workers.callback_guard import CallbackRefused, GuardedResolver, check_target
from workers.callback_lanes import Lanes
from workers.callbacks import render_batch, render_event, signed_headers
from workers.webhook_client import WebhookClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryReport:
    """Which claimed events were POSTed (2xx) and which were not."""

    delivered: tuple[int, ...]
    failed: tuple[int, ...]


class CallbackDispatcher(Protocol):
    """POSTs claimed callback events; safe to call from several threads."""

    def deliver(self, events: Sequence[PendingCallback], deadline: float) -> DeliveryReport:
        """POST `events` (batched where they ask); what is not done in `deadline` s failed."""
        ...

    def submit(self, events: Sequence[PendingCallback], deadline: float) -> Future[DeliveryReport]:
        """`deliver` without waiting: the report arrives in the future."""
        ...

    def close(self) -> None:
        """Release connections and threads."""
        ...


def _body(event: PendingCallback) -> bytes:
    """What a single-event POST carries: the body written with the event (an MO), or the
    status event rendered."""
    return event.body if event.body is not None else render_event(event.event)


def _host(url: str) -> str:
    return urlsplit(url).netloc.lower()


@dataclass(slots=True)
class _Post:
    """One POST waiting for its host's lane: a single event or a batch of them."""

    url: str
    body: bytes
    events: int
    account_id: str
    waiters: list[asyncio.Future[bool]]  # whether it was answered 2xx, per event


@dataclass
class DispatcherStats:
    """Counters of one dispatcher (for logs and the bench)."""

    posts: int = 0
    failed_posts: int = 0
    events: int = 0


class HttpDispatcher:
    """The real dispatcher: a pooled keep-alive HTTP client on its own event-loop thread."""

    def __init__(
        self,
        secret: str,
        timeout: float = 10.0,
        per_host: int = 16,
        total: int = 64,
        batch_max: int = 100,
        batch_wait: float = 0.1,
        clock: Callable[[], float] = time.time,
        policy: CallbackPolicy | None = None,
        resolver: Callable[[], AbstractResolver] | None = None,
        account_secrets: Callable[[str], Sequence[str]] | None = None,
    ) -> None:
        """`policy`: where callbacks may go (public hosts only by default); `resolver` makes the
        resolver the guard wraps (the system's by default; tests pass a stub);
        `account_secrets`: an account's signing secrets (`secret` for one that has none)."""
        self._signing: Callable[[str], Sequence[str]] = lambda account_id: (
            (account_secrets(account_id) if account_secrets is not None else ()) or (secret,)
        )
        self._policy = policy or CallbackPolicy()
        self._checked: dict[str, str | None] = {}  # URL -> why it is refused (None: allowed)
        self._host_of: dict[str, str] = {}  # URL -> its host (the lane it waits in)
        self._make_resolver = resolver
        self._timeout = timeout
        self._per_host = per_host
        self._total = total
        self._clock = clock
        self._window: BatchWindow[tuple[PendingCallback, asyncio.Future[bool]]] = BatchWindow(
            batch_max, batch_wait
        )
        self._timer: asyncio.TimerHandle | None = None
        self.stats = DispatcherStats()
        self._loop = uvloop.new_event_loop()  # less CPU per POST than asyncio's loop
        self._thread = threading.Thread(target=self._run, name="callback-dispatcher", daemon=True)
        self._thread.start()
        self._background: set[asyncio.Task[None]] = set()  # batch POSTs no caller awaits
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(timeout=10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    async def _open(self) -> None:
        inner = self._make_resolver() if self._make_resolver is not None else None
        self._resolver = GuardedResolver(self._policy, inner)
        self._client = WebhookClient(self._resolver, timeout=self._timeout, keepalive=30)
        self._lanes: Lanes[_Post] = Lanes(self._per_host, self._total, self._run_post, self._spawn)

    def deliver(self, events: Sequence[PendingCallback], deadline: float) -> DeliveryReport:
        """POST `events`; blocks the calling thread until all are done or `deadline` s pass."""
        if not events:
            return DeliveryReport((), ())
        future = self.submit(events, deadline)
        try:
            return future.result(timeout=deadline + 5)
        except FutureTimeout:  # the loop itself is stuck: report every event as failed
            future.cancel()
            return DeliveryReport((), tuple(e.event_id for e in events))

    def submit(self, events: Sequence[PendingCallback], deadline: float) -> Future[DeliveryReport]:
        """Start POSTing `events` on the loop thread; the report is the future's result."""
        return asyncio.run_coroutine_threadsafe(self._deliver(events, deadline), self._loop)

    async def _deliver(self, events: Sequence[PendingCallback], deadline: float) -> DeliveryReport:
        loop = asyncio.get_running_loop()
        now = loop.time()
        outcomes: list[tuple[PendingCallback, asyncio.Future[bool]]] = []
        for event in events:
            if event.batch:
                done: asyncio.Future[bool] = loop.create_future()
                # one account's events per batch: one account's secrets sign it
                full = self._window.add(f"{event.account_id} {event.url}", (event, done), now)
                if full is not None:
                    self._queue_batch(full)
                outcomes.append((event, done))
            else:
                done = loop.create_future()
                self._queue(_Post(event.url, _body(event), 1, event.account_id, [done]))
                outcomes.append((event, done))
        self._arm_timer()
        futures = [f for _, f in outcomes]
        _, pending = await asyncio.wait(futures, timeout=deadline)
        for f in pending:  # still waiting at the deadline: tried again later (a POST not
            f.cancel()  # started yet is skipped; one under way ends at the client's timeout)
        delivered = tuple(
            e.event_id for e, f in outcomes if f.done() and not f.cancelled() and f.result()
        )
        delivered_set = set(delivered)
        failed = tuple(e.event_id for e, _ in outcomes if e.event_id not in delivered_set)
        return DeliveryReport(delivered, failed)

    def _arm_timer(self) -> None:
        due = self._window.next_due()
        if due is None or self._timer is not None:
            return
        self._timer = self._loop.call_at(due, self._flush_due)

    def _flush_due(self) -> None:
        self._timer = None
        for _, batch in self._window.take_due(self._loop.time()):
            self._queue_batch(batch)
        self._arm_timer()

    def _spawn(self, runner: Coroutine[None, None, None]) -> None:
        task = self._loop.create_task(runner)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _queue(self, post: _Post) -> None:
        host = self._host_of.get(post.url)
        if host is None:
            if len(self._host_of) >= 4096:
                self._host_of.clear()
            host = self._host_of[post.url] = _host(post.url)
        self._lanes.put(host, post)

    def _queue_batch(self, batch: list[tuple[PendingCallback, asyncio.Future[bool]]]) -> None:
        first = batch[0][0]
        body = render_batch([e.event for e, _ in batch])
        self._queue(_Post(first.url, body, len(batch), first.account_id, [d for _, d in batch]))

    async def _run_post(self, post: _Post) -> None:
        """A lane's runner: POST unless every event it carries was given up meanwhile."""
        if all(w.done() for w in post.waiters):  # cancelled at its caller's deadline
            return
        try:
            ok = await self._post(post.url, post.body, post.events, post.account_id)
        except Exception:  # a runner must go on with its lane whatever one POST did
            log.exception("callback POST to %s failed unexpectedly", _host(post.url))
            ok = False
        for waiter in post.waiters:
            if not waiter.done():
                waiter.set_result(ok)

    def _check(self, url: str) -> None:
        """`check_target`, remembered per URL (the policy is fixed for the dispatcher's life;
        a host name's addresses are checked at each new connection by the resolver)."""
        if url not in self._checked:
            if len(self._checked) >= 4096:
                self._checked.clear()
            try:
                check_target(self._policy, url)
                self._checked[url] = None
            except CallbackRefused as error:
                self._checked[url] = str(error)
        refusal = self._checked[url]
        if refusal is not None:
            raise CallbackRefused(refusal)

    async def _post(self, url: str, body: bytes, events: int, account_id: str) -> bool:
        timestamp = int(self._clock())
        try:
            self._check(url)
            # a redirect could point anywhere: the client never follows one
            status = await self._client.post(
                url, body, signed_headers(self._signing(account_id), timestamp, body)
            )
            ok = 200 <= status < 300
        except CallbackRefused as exc:
            log.warning("callback to %s refused: %s", _host(url), exc)
            ok = False
        except (TimeoutError, OSError) as exc:  # connection, protocol, timeout
            log.info("callback POST to %s failed: %s", _host(url), exc or type(exc).__name__)
            ok = False
        self.stats.posts += 1
        self.stats.events += events
        self.stats.failed_posts += not ok
        return ok

    def close(self) -> None:
        """Fail what waits in open batches, close the session, stop the loop thread."""

        async def shut() -> None:
            for _, batch in self._window.take_all():
                for _, done in batch:
                    if not done.done():
                        done.set_result(False)
            self._client.close()
            await self._resolver.close()

        try:
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self._loop.close()


@dataclass
class MemoryDispatcher:
    """The in-memory twin: records what would be POSTed; URLs in `failing` fail."""

    failing: set[str] = field(default_factory=set)
    batch_max: int = 100
    posted: list[tuple[str, bytes]] = field(default_factory=list)

    def deliver(self, events: Sequence[PendingCallback], deadline: float) -> DeliveryReport:
        """Batched events go in one body per URL (no waiting: a call is its own window)."""
        delivered: list[int] = []
        failed: list[int] = []
        groups: dict[str, list[PendingCallback]] = defaultdict(list)
        posts: list[tuple[str, list[PendingCallback], bytes]] = []
        for e in events:
            if e.batch:
                groups[e.url].append(e)
            else:
                posts.append((e.url, [e], _body(e)))
        for url, group in groups.items():
            for start in range(0, len(group), self.batch_max):
                chunk = group[start : start + self.batch_max]
                posts.append((url, chunk, render_batch([e.event for e in chunk])))
        for url, chunk, body in posts:
            if url in self.failing:
                failed += [e.event_id for e in chunk]
            else:
                self.posted.append((url, body))
                delivered += [e.event_id for e in chunk]
        return DeliveryReport(tuple(delivered), tuple(failed))

    def submit(self, events: Sequence[PendingCallback], deadline: float) -> Future[DeliveryReport]:
        """`deliver`, done by the time it returns."""
        future: Future[DeliveryReport] = Future()
        future.set_result(self.deliver(events, deadline))
        return future

    def close(self) -> None:
        """Nothing to release."""


class LazyDispatcher:
    """A dispatcher made on first delivery: a process that only releases due events (the beat
    sweep) never starts an HTTP client or its thread."""

    def __init__(self, make: Callable[[], CallbackDispatcher]) -> None:
        self._make = make
        self._made: CallbackDispatcher | None = None
        self._lock = threading.Lock()

    def deliver(self, events: Sequence[PendingCallback], deadline: float) -> DeliveryReport:
        """Deliver through the real dispatcher, made now if need be."""
        return self._real().deliver(events, deadline)

    def submit(self, events: Sequence[PendingCallback], deadline: float) -> Future[DeliveryReport]:
        """Submit to the real dispatcher, made now if need be."""
        return self._real().submit(events, deadline)

    def _real(self) -> CallbackDispatcher:
        with self._lock:
            if self._made is None:
                self._made = self._make()
            return self._made

    def close(self) -> None:
        """Close the real dispatcher, if one was made."""
        with self._lock:
            if self._made is not None:
                self._made.close()
                self._made = None
