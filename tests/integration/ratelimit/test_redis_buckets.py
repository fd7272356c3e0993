"""What only the Redis adapter does: Lua agrees with the model, TTL, and failing closed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratelimit import FAILURE_RETRY_AFTER, Grant, RedisTokenBuckets
from ratelimit.model import BucketState, idle_ttl_ms, take
from switchboard.embedded import start_redis


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url)
    yield conn
    conn.close()


requests = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),  # bucket
        st.integers(min_value=1, max_value=40),  # tokens
        st.booleans(),  # partial
    ),
    min_size=1,
    max_size=30,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rate=st.floats(min_value=1, max_value=20_000, allow_nan=False),
    capacity=st.integers(min_value=1, max_value=30).map(float),
    seq=requests,
)
def test_lua_script_agrees_with_the_pure_model(
    client: redis.Redis, rate: float, capacity: float, seq: list[tuple[str, int, bool]]
) -> None:
    # Given the instants Redis used for each decision (TIME, returned by the script),
    # the pure model fed the same instants must reach the very same decisions.
    buckets = RedisTokenBuckets(client, prefix=f"sb:test:{uuid.uuid4().hex}:")
    states: dict[str, BucketState | None] = {"a": None, "b": None}
    for key, wanted, partial in seq:
        decided = buckets.take_timed(key, rate, capacity, wanted, partial)
        assert decided is not None
        grant, left, now_us = decided
        states[key], expected, expected_left = take(
            states[key], now_us, rate, capacity, wanted, partial
        )
        assert grant == expected
        assert left == expected_left


def test_bucket_expires_once_it_would_be_full_again(client: redis.Redis) -> None:
    RedisTokenBuckets(client).take("c1", rate=4, capacity=8)
    assert 0 < client.pttl("sb:tb:c1") <= idle_ttl_ms(4, 8) == 3000


def test_level_creates_no_key(client: redis.Redis) -> None:
    RedisTokenBuckets(client).level("c1", rate=4, capacity=8)
    assert client.exists("sb:tb:c1") == 0


def test_script_is_reloaded_after_a_script_flush(client: redis.Redis) -> None:
    buckets = RedisTokenBuckets(client)
    assert buckets.take("c1", rate=1, capacity=2).granted == 1
    client.script_flush()
    assert buckets.take("c1", rate=1, capacity=2).granted == 1
    assert buckets.take("c1", rate=1, capacity=2).granted == 0
    assert buckets.failures == 0


def test_redis_down_fails_closed_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_redis(tmp_path / "redis", persist=False)
    conn = redis.Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
    buckets = RedisTokenBuckets(conn)
    try:
        assert buckets.take("c1", rate=100, capacity=100).granted == 1
    finally:
        server.stop()
    with caplog.at_level(logging.WARNING, logger="ratelimit.buckets"):
        refused = buckets.take("c1", rate=100, capacity=100)
        level = buckets.level("c1", rate=100, capacity=100)
    conn.close()
    assert refused == Grant(0, FAILURE_RETRY_AFTER)
    assert level == 0.0
    assert buckets.failures == 2
    assert "failing closed" in caplog.text
    assert "'c1'" in caplog.text
