"""Rate limits and backpressure at the API's door.

Per API key, requests per second (every /v1/ route); per account, messages accepted per
second (a batch counts each valid item); both from the operator's limits file, decided in
process by `ratelimit.SharedWindows` and shared through Redis a few times a second (fails
open, counted in `refusals["sync_failures"]` via the sync). Refused: 429 `rate_limited` with
`Retry-After` and the IETF `RateLimit-Policy` / `RateLimit` headers
(draft-ietf-httpapi-ratelimit-headers: `"name";q=<quota>;w=<window s>`, `"name";r=<left>;t=<s>`).

Backpressure: a send while the group committer has more than `commit_queue_max` units waiting,
or while the outbox backlog (messages still `queued`, sampled every `backlog_every` s) is past
`outbox_backlog_max`, is 503 `overloaded` with `Retry-After`, instead of memory without bound.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from api.committer import GroupCommitter
from api.problems import ApiProblem
from messaging import RateLimited
from ratelimit import RateDecision, RateLimits, SharedWindows
from store import KeyOwner

log = logging.getLogger(__name__)
OVERLOADED_RETRY_AFTER = 1  # seconds


def _headers(name: str, limit: int, decision: RateDecision) -> tuple[tuple[str, str], ...]:
    reset = max(1, math.ceil(decision.reset))
    return (
        ("RateLimit-Policy", f'"{name}";q={limit};w=1'),
        ("RateLimit", f'"{name}";r={decision.remaining};t={reset}'),
    )


@dataclass
class Limiter:
    """The API's limits: rates per key and account, and the bounds of its queues."""

    limits: RateLimits
    windows: SharedWindows
    commit_queue_max: int = 20_000
    outbox_backlog_max: int = 0  # 0: not watched
    backlog: Callable[[int], int] | None = None  # store.queued_backlog
    backlog_every: float = 2.0
    refusals: Counter[str] = field(default_factory=Counter)
    _backlog_seen: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        """Sample the outbox backlog in a daemon thread (when it is watched)."""
        if self.outbox_backlog_max and self.backlog is not None:
            threading.Thread(target=self._watch_backlog, name="backlog", daemon=True).start()

    def close(self) -> None:
        """Stop the sampling thread."""
        self._stop.set()

    def _watch_backlog(self) -> None:
        assert self.backlog is not None
        while not self._stop.wait(self.backlog_every):
            try:
                self._backlog_seen = self.backlog(self.outbox_backlog_max)
            except Exception as exc:  # the database's trouble is answered by the requests
                log.warning("outbox backlog not sampled: %s", exc)

    def check_request(self, owner: KeyOwner, key: str) -> None:
        """Count one request of `key`; 429 past its account's requests_per_second."""
        limit = self.limits.for_account(owner.account_name).requests_per_second
        if not limit:
            return
        # A digest, not the key: Redis never holds a secret.
        name = "k:" + hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
        decision = self.windows.hit(name, limit)
        if not decision.allowed:
            self.refusals["requests"] += 1
            raise RateLimited(
                decision.retry_after,
                f"over {limit} requests per second for this API key",
                _headers("requests", limit, decision),
            )

    def check_messages(self, owner: KeyOwner, count: int) -> None:
        """Count `count` messages of the account; 429 past its messages_per_second."""
        limit = self.limits.for_account(owner.account_name).messages_per_second
        if not limit or not count:
            return
        decision = self.windows.hit("a:" + owner.account_id, limit, count)
        if not decision.allowed:
            self.refusals["messages"] += 1
            raise RateLimited(
                decision.retry_after,
                f"over {limit} messages per second for this account ({count} asked)",
                _headers("messages", limit, decision),
            )

    def check_capacity(self, committer: GroupCommitter) -> None:
        """503 `overloaded` when the commit queue or the outbox backlog is past its bound."""
        waiting = committer.waiting()
        if waiting > self.commit_queue_max:
            self.refusals["commit_queue"] += 1
            raise _overloaded(f"{waiting} commits are waiting")
        if self.outbox_backlog_max and self._backlog_seen > self.outbox_backlog_max:
            self.refusals["outbox_backlog"] += 1
            raise _overloaded(f"over {self.outbox_backlog_max} messages wait to be sent")


def _overloaded(why: str) -> ApiProblem:
    return ApiProblem(
        503,
        "overloaded",
        "Overloaded",
        f"{why}; nothing was stored, try again shortly",
        {"Retry-After": str(OVERLOADED_RETRY_AFTER)},
    )


LIMITER = web.AppKey("limiter", Limiter)
