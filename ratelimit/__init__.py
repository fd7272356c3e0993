"""Cluster-wide rate limits on Redis: carrier MPS token buckets (fail closed)."""

from ratelimit.buckets import (
    FAILURE_RETRY_AFTER,
    MemoryTokenBuckets,
    RedisTokenBuckets,
    TokenBuckets,
)
from ratelimit.model import Grant

__all__ = [
    "FAILURE_RETRY_AFTER",
    "Grant",
    "MemoryTokenBuckets",
    "RedisTokenBuckets",
    "TokenBuckets",
]
