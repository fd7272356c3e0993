"""Cluster-wide limits on Redis: MPS buckets, bind leases (fail closed), velocity windows."""

from ratelimit.buckets import (
    FAILURE_RETRY_AFTER,
    MemoryTokenBuckets,
    Pacing,
    RedisTokenBuckets,
    TokenBuckets,
)
from ratelimit.client import limits_client
from ratelimit.leases import BindLeases, Lease, MemoryBindLeases, RedisBindLeases
from ratelimit.limits_config import RateLimits, RateLimitSet, load_rate_limits
from ratelimit.model import Grant
from ratelimit.sender_lease import MemorySenderLeases, RedisSenderLeases, SenderLeases, Tenure
from ratelimit.shared_windows import RateDecision, RedisWindowSync, SharedWindows
from ratelimit.window_model import WindowResult
from ratelimit.windows import MemoryWindowCounters, RedisWindowCounters, WindowCounters

__all__ = [
    "FAILURE_RETRY_AFTER",
    "BindLeases",
    "Grant",
    "Lease",
    "MemoryBindLeases",
    "MemorySenderLeases",
    "MemoryTokenBuckets",
    "MemoryWindowCounters",
    "Pacing",
    "RateDecision",
    "RateLimitSet",
    "RateLimits",
    "RedisBindLeases",
    "RedisSenderLeases",
    "RedisTokenBuckets",
    "RedisWindowCounters",
    "RedisWindowSync",
    "SenderLeases",
    "SharedWindows",
    "Tenure",
    "TokenBuckets",
    "WindowCounters",
    "WindowResult",
    "limits_client",
    "load_rate_limits",
]
