"""Publishes committed status changes to the status stream (`messaging.stream`): one pipeline
per batch, one PUBLISH per account in it. Best effort, after the commit: a Redis error is counted
and logged once per outage, never raised (the database and the callbacks are the record)."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence

import redis

from messaging import StatusEvent, channel_for, encode_events
from store import StatusChange
from workers.process_redis import ProcessRedis

log = logging.getLogger(__name__)


class StreamPublisher:
    """Publishes status changes per account; made lazily per process (after Celery's fork)."""

    def __init__(self, redis_url: str, clock: Callable[[], float] = time.time) -> None:
        self._redis = ProcessRedis(redis_url)
        self._clock = clock
        self.failures = 0
        self._down = False

    def publish(self, changes: Sequence[StatusChange]) -> None:
        """PUBLISH the changes of one committed batch, grouped by account (none: no call)."""
        by_account: dict[str, list[StatusEvent]] = defaultdict(list)
        at = self._clock()
        for c in changes:
            if c.account_id:
                by_account[c.account_id].append(StatusEvent(c.message_id, c.status, at))
        if not by_account:
            return
        try:
            pipe = self._redis.get().pipeline(transaction=False)
            for account_id, events in by_account.items():
                pipe.publish(channel_for(account_id), encode_events(events))
            pipe.execute()
        except redis.RedisError as exc:
            self.failures += 1
            if not self._down:
                log.warning("status stream not published (Redis unavailable): %s", exc)
            self._down = True
            return
        self._down = False
