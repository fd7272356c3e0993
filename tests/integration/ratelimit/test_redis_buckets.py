"""What only the Redis adapter does: Lua agrees with the model, TTL, and failing closed."""

from __future__ import annotations

import logging
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratelimit import FAILURE_RETRY_AFTER, Grant, Pacing, RedisTokenBuckets, limits_client
from ratelimit.model import (
    BucketState,
    PaceState,
    cut_pace,
    idle_ttl_ms,
    pace_ttl_ms,
    take,
    take_chain,
    take_lane,
)
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


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    share=st.tuples(st.floats(min_value=1, max_value=20_000), st.integers(1, 30).map(float)),
    carrier=st.tuples(st.floats(min_value=1, max_value=20_000), st.integers(1, 30).map(float)),
    seq=requests,
)
def test_chain_script_agrees_with_the_pure_model(
    client: redis.Redis,
    share: tuple[float, float],
    carrier: tuple[float, float],
    seq: list[tuple[str, int, bool]],
) -> None:
    # Chains on "a" (share + carrier) interleaved with plain takes on "b" (the carrier alone,
    # as OTP traffic takes it): same instants, same decisions and levels as the model.
    buckets = RedisTokenBuckets(client, prefix=f"sb:test:{uuid.uuid4().hex}:")
    states: dict[str, BucketState | None] = {"share": None, "carrier": None}
    for lane, wanted, partial in seq:
        if lane == "a":
            decided = buckets.take_chain_timed([("share", *share), ("carrier", *carrier)], wanted)
            assert decided is not None
            grant, now_us = decided
            (states["share"], states["carrier"]), expected = take_chain(
                [states["share"], states["carrier"]], now_us, [share, carrier], wanted
            )
        else:
            timed = buckets.take_timed("carrier", *carrier, wanted, partial)
            assert timed is not None
            grant, _, now_us = timed
            states["carrier"], expected, _ = take(
                states["carrier"], now_us, *carrier, wanted, partial
            )
        assert grant == expected


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
    conn = limits_client(server.url)
    buckets = RedisTokenBuckets(conn)
    try:
        assert buckets.take("c1", rate=100, capacity=100).granted == 1
    finally:
        server.stop()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="ratelimit.buckets"):
        refused = buckets.take("c1", rate=100, capacity=100)
        level = buckets.level("c1", rate=100, capacity=100)
    took = time.monotonic() - started
    conn.close()
    assert took < 1.0  # limits_client: no backoff ladder between the worker and its failover
    assert refused == Grant(0, FAILURE_RETRY_AFTER)
    assert level == 0.0
    assert buckets.failures == 2
    assert "failing closed" in caplog.text
    assert "'c1'" in caplog.text


def test_hung_redis_fails_closed_within_the_client_timeout_and_recovers(tmp_path: Path) -> None:
    server = start_redis(tmp_path / "redis", persist=False)
    conn = limits_client(server.url, timeout=0.2)
    buckets = RedisTokenBuckets(conn)
    try:
        assert buckets.take("c1", rate=1, capacity=3).granted == 1
        server.process.send_signal(signal.SIGSTOP)  # accepts nothing, answers nothing
        started = time.monotonic()
        try:
            refused = buckets.take("c1", rate=1, capacity=3)
        finally:
            server.process.send_signal(signal.SIGCONT)
        took = time.monotonic() - started
        assert refused == Grant(0, FAILURE_RETRY_AFTER)
        assert took < 1.0  # two tries of 0.2 s, not a hang
        assert buckets.failures == 1
        # Redis is back: the same client carries on. (The hung call may still have run its
        # script once Redis woke: one token lost, which under-sends, never over-sends.)
        assert buckets.take("c1", rate=1, capacity=3).granted == 1
    finally:
        conn.close()
        server.stop()


def test_buckets_carry_on_after_redis_restarts_on_the_same_port(tmp_path: Path) -> None:
    server = start_redis(tmp_path / "one", persist=False)
    conn = limits_client(server.url)
    buckets = RedisTokenBuckets(conn)
    try:
        assert buckets.take("c1", rate=1, capacity=2).granted == 1
        server.stop()
        server = start_redis(tmp_path / "two", port=server.port, persist=False)
        # A new, empty Redis: the script is loaded again and the bucket starts full.
        assert buckets.take("c1", rate=1, capacity=2, tokens=2).granted == 2
        assert buckets.failures == 0
    finally:
        conn.close()
        server.stop()


lane_steps = st.lists(
    st.tuples(
        st.sampled_from(["bulk", "otp", "whole", "cut"]),
        st.integers(min_value=1, max_value=40),  # tokens
    ),
    min_size=1,
    max_size=30,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rate=st.floats(min_value=1, max_value=20_000),
    capacity=st.integers(min_value=1, max_value=30).map(float),
    share=st.floats(min_value=0, max_value=0.9),
    pacing=st.builds(
        Pacing,
        cut=st.floats(min_value=0.1, max_value=0.99),
        minimum=st.floats(min_value=0.01, max_value=0.5),
        cooldown=st.sampled_from([0.0, 0.0005, 0.2]),
        recover_per_s=st.floats(min_value=0.01, max_value=10),
    ),
    yield_for=st.sampled_from([0.0, 0.0005, 0.05]),
    seq=lane_steps,
)
def test_lane_and_pace_scripts_agree_with_the_pure_model(
    client: redis.Redis,
    rate: float,
    capacity: float,
    share: float,
    pacing: Pacing,
    yield_for: float,
    seq: list[tuple[str, int]],
) -> None:
    # Marketing (with a floor) and OTP (without) takes interleaved with throttle cuts: at the
    # instants Redis used, the model reaches the same grants, refill rates and paces.
    buckets = RedisTokenBuckets(client, prefix=f"sb:test:{uuid.uuid4().hex}:")
    floor = min(capacity - 1, capacity * share)
    bucket: BucketState | None = None
    pace: PaceState | None = None
    for step, wanted in seq:
        if step == "cut":
            decided = buckets.cut_pace_timed("pace", pacing)
            assert decided is not None
            cut_state, now_state = decided
            expected, did_cut = cut_pace(
                pace,
                now_state.updated_us if cut_state is not None else _now_us(client),
                pacing.recover_per_s,
                pacing.cut,
                pacing.minimum,
                round(pacing.cooldown * 1_000_000),
            )
            if cut_state is None:  # refused within the cooldown: the stored state is unchanged
                assert pace is not None and now_state == pace
            else:
                assert did_cut and cut_state == expected
                pace = expected
            continue
        lane_floor, ahead = (floor, capacity * share) if step == "bulk" else (0.0, 0.0)
        if step == "whole":  # a one-sender lane's priority group: booked deep, all or none
            ahead = wanted + capacity
        yield_s = yield_for if step == "bulk" else 0.0
        whole = step == "whole"
        timed = buckets.take_lane_timed(
            "carrier", "pace", rate, capacity, lane_floor, pacing, wanted, ahead, yield_s, whole
        )
        assert timed is not None
        grant, paced, now_us, due_in = timed
        bucket, expected_grant, expected_rate, expected_due = take_lane(
            bucket,
            pace,
            now_us,
            rate,
            capacity,
            lane_floor,
            pacing.recover_per_s,
            wanted,
            ahead,
            round(yield_s * 1_000_000),
            whole,
        )
        assert (grant, paced, due_in) == (expected_grant, expected_rate, expected_due)


def _now_us(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1_000_000 + int(micros)


def test_pace_expires_once_it_has_grown_back(client: redis.Redis) -> None:
    buckets = RedisTokenBuckets(client, prefix="sb:ttl:")
    pacing = Pacing(cut=0.5, recover_per_s=0.25)
    buckets.cut_pace("p", pacing)
    assert 2500 < client.pttl("sb:ttl:p") <= pace_ttl_ms(PaceState(0.5, 0), 0.25)
