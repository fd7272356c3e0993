"""A Redis client fit for limit checks: an outage must fail in milliseconds, not seconds."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def limits_client(url: str, timeout: float = 0.25, retries: int = 1) -> redis.Redis:
    """A client for `url` with `timeout`-second socket timeouts and `retries` immediate retries.

    redis-py's defaults retry 10 times with exponential backoff, so a refused connection
    takes seconds to surface; a worker holding a message must instead fail closed fast and
    fail over. One immediate retry still rides over a pooled connection that Redis dropped.
    A retried script may have run once already: a bucket then loses a token (under-sends),
    never over-sends.
    """
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), retries),
    )
