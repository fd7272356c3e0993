"""One contract for both token-bucket adapters: Redis (a real redis-server) and the memory twin.

Redis's clock cannot be frozen, so the Redis run lets real time pass where the memory run
moves a fake clock, and the assertions allow for the milliseconds a test itself takes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis

from ratelimit import Grant, MemoryTokenBuckets, Pacing, RedisTokenBuckets, TokenBuckets
from tests.fakes import FakeClock

#: Wall-clock time a Redis-backed step may take beyond what the test waited.
SLACK_S = 0.05


@dataclass
class Harness:
    """Buckets under test and a way to let time pass for them."""

    buckets: TokenBuckets
    advance: Callable[[float], None]
    slack: float  # seconds of unplanned elapsed time the assertions must tolerate


@pytest.fixture(params=["memory", "redis"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        clock = FakeClock(1_000.0)
        yield Harness(MemoryTokenBuckets(clock), clock.advance, 0.0)
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    yield Harness(RedisTokenBuckets(client), time.sleep, SLACK_S)
    client.close()


def test_fresh_bucket_grants_its_capacity_then_refuses(harness: Harness) -> None:
    grants = [harness.buckets.take("c1", rate=0.5, capacity=5).granted for _ in range(6)]
    assert grants == [1, 1, 1, 1, 1, 0]


def test_all_or_nothing_take_grants_nothing_when_short(harness: Harness) -> None:
    b = harness.buckets
    assert b.take("c1", rate=0.5, capacity=5, tokens=3).granted == 3
    assert b.take("c1", rate=0.5, capacity=5, tokens=3).granted == 0
    assert b.take("c1", rate=0.5, capacity=5, tokens=2).granted == 2


def test_partial_take_grants_the_whole_tokens_there(harness: Harness) -> None:
    b = harness.buckets
    assert b.take("c1", rate=0.5, capacity=5, tokens=3).granted == 3
    grant = b.take("c1", rate=0.5, capacity=5, tokens=4, partial=True)
    assert grant.granted == 2
    # the other 2 tokens at 0.5/s
    assert 4.0 - 2 * harness.slack <= grant.retry_after <= 4.0


def test_full_grant_has_no_retry_after(harness: Harness) -> None:
    assert harness.buckets.take("c1", rate=10, capacity=4, tokens=4).retry_after == 0.0


def test_retry_after_says_when_the_request_fits(harness: Harness) -> None:
    b = harness.buckets
    assert b.take("c1", rate=20, capacity=2, tokens=2).granted == 2
    refused = b.take("c1", rate=20, capacity=2, tokens=2)
    assert refused.granted == 0
    assert 0.1 - harness.slack <= refused.retry_after <= 0.1
    harness.advance(refused.retry_after)
    assert b.take("c1", rate=20, capacity=2, tokens=2).granted == 2


def test_retry_after_is_not_early(harness: Harness) -> None:
    b = harness.buckets
    b.take("c1", rate=2, capacity=2, tokens=2)
    refused = b.take("c1", rate=2, capacity=2, tokens=2)  # needs ~1 s
    harness.advance(refused.retry_after / 2)
    assert b.take("c1", rate=2, capacity=2, tokens=2).granted == 0


def test_bucket_refills_at_its_rate(harness: Harness) -> None:
    b = harness.buckets
    assert b.take("c1", rate=100, capacity=100, tokens=100).granted == 100
    harness.advance(0.2)
    assert 20.0 <= b.level("c1", rate=100, capacity=100) <= 20.0 + 100 * harness.slack


def test_refill_stops_at_capacity(harness: Harness) -> None:
    b = harness.buckets
    b.take("c1", rate=100, capacity=3, tokens=3)
    harness.advance(0.1)
    assert b.level("c1", rate=100, capacity=3) == 3.0


def test_level_of_an_unknown_bucket_is_its_capacity(harness: Harness) -> None:
    assert harness.buckets.level("never-used", rate=1, capacity=7) == 7.0


def test_reading_the_level_takes_nothing(harness: Harness) -> None:
    b = harness.buckets
    b.level("c1", rate=0.5, capacity=3)
    b.level("c1", rate=0.5, capacity=3)
    assert b.take("c1", rate=0.5, capacity=3, tokens=3).granted == 3


def test_keys_are_independent(harness: Harness) -> None:
    b = harness.buckets
    assert b.take("carrier-a", rate=0.5, capacity=2, tokens=2).granted == 2
    assert b.take("carrier-b", rate=0.5, capacity=2, tokens=2).granted == 2
    assert b.take("carrier-a", rate=0.5, capacity=2).granted == 0
    assert b.level("carrier-b", rate=0.5, capacity=2) < 1


def test_all_or_nothing_request_above_capacity_is_never_granted(harness: Harness) -> None:
    grant = harness.buckets.take("c1", rate=10, capacity=3, tokens=4)
    assert grant.granted == 0
    assert math.isinf(grant.retry_after)
    assert harness.buckets.level("c1", rate=10, capacity=3) == 3.0  # and it took nothing


@pytest.mark.parametrize(
    ("rate", "capacity", "tokens"),
    [(0, 5, 1), (-1, 5, 1), (5, 0, 1), (5, math.inf, 1), (math.nan, 5, 1), (5, 5, 0)],
)
def test_impossible_limits_are_refused(
    harness: Harness, rate: float, capacity: float, tokens: int
) -> None:
    with pytest.raises(ValueError, match=r"must be|needs"):
        harness.buckets.take("c1", rate=rate, capacity=capacity, tokens=tokens)


# -- take_chain: a lane limited by two buckets (its class's share and the carrier's limit) --


def test_chain_grants_what_the_emptiest_bucket_holds_from_every_bucket(harness: Harness) -> None:
    b = harness.buckets
    assert b.take("share", rate=0.5, capacity=5, tokens=3).granted == 3  # 2 left
    grant = b.take_chain([("share", 0.5, 5), ("carrier", 0.5, 10)], tokens=4)
    assert grant.granted == 2
    assert b.level("share", rate=0.5, capacity=5) < 1
    assert 8.0 <= b.level("carrier", rate=0.5, capacity=10) <= 8.0 + 0.5 * harness.slack + 1e-9


def test_chain_spends_nothing_of_one_bucket_when_another_refuses(harness: Harness) -> None:
    b = harness.buckets
    assert b.take("carrier", rate=0.5, capacity=4, tokens=4).granted == 4  # OTP used it all
    grant = b.take_chain([("share", 0.5, 5), ("carrier", 0.5, 4)], tokens=3)
    assert grant.granted == 0
    assert b.level("share", rate=0.5, capacity=5) == 5.0  # the class's share is kept
    # all 3 fit once the carrier refilled 3 tokens at 0.5/s
    assert 6.0 - 2 * harness.slack <= grant.retry_after <= 6.0


def test_chain_fully_granted_has_no_retry_after(harness: Harness) -> None:
    grant = harness.buckets.take_chain([("share", 10, 4), ("carrier", 10, 8)], tokens=4)
    assert grant == Grant(4, 0.0)


@pytest.mark.parametrize(
    ("buckets", "tokens"),
    [([], 1), ([("share", 0.0, 5.0)], 1), ([("share", 5.0, -1.0)], 1), ([("share", 5.0, 5.0)], 0)],
)
def test_impossible_chains_are_refused(
    harness: Harness, buckets: list[tuple[str, float, float]], tokens: int
) -> None:
    with pytest.raises(ValueError, match=r"must be|needs"):
        harness.buckets.take_chain(buckets, tokens)


# -- take_lane: one carrier bucket, a floor for marketing, an adaptive pace ------------------

PACING = Pacing(cut=0.5, minimum=0.1, cooldown=0.2, recover_per_s=0.1)


def test_lane_with_a_floor_takes_only_the_whole_tokens_above_it(harness: Harness) -> None:
    b = harness.buckets
    grant, rate, due_in = b.take_lane("c", "c:pace", 100, 10, 2.5, PACING, tokens=50)
    assert grant.granted == 7 and rate == 100  # 10 - 2.5 → 7 whole tokens
    # ...spent 1/100 s apart from now, not at once: the last when the level is back at 9.
    assert due_in == pytest.approx(0.06, abs=harness.slack + 1e-6)
    priority, _, _ = b.take_lane("c", "c:pace", 100, 10, 0, PACING, tokens=50)
    assert priority.granted == 3  # the floor (and the fraction) waits for priority traffic


def test_lane_floor_costs_no_rate(harness: Harness) -> None:
    b = harness.buckets
    b.take_lane("c", "c:pace", 20, 10, 2, PACING, tokens=50)
    harness.advance(0.5)  # 10 tokens refill, capped at 10: level 10
    grant, _, _ = b.take_lane("c", "c:pace", 20, 10, 2, PACING, tokens=50)
    assert grant.granted == 8


def test_lane_retry_after_counts_the_floor(harness: Harness) -> None:
    b = harness.buckets
    b.take_lane("c", "c:pace", 10, 5, 1, PACING, tokens=50)  # level 1
    grant, _, _ = b.take_lane("c", "c:pace", 10, 5, 1, PACING, tokens=2)
    assert grant.granted == 0
    assert grant.retry_after == pytest.approx(0.2, abs=harness.slack + 1e-6)


def test_a_cut_pace_slows_the_bucket_and_grows_back_additively(harness: Harness) -> None:
    b = harness.buckets
    assert b.pace("p", PACING) == 1.0
    assert b.cut_pace("p", PACING) == pytest.approx(0.5)
    assert b.cut_pace("p", PACING) is None  # within the cooldown: one overshoot, one cut
    _, rate, _ = b.take_lane("c", "p", 100, 10, 0, PACING, tokens=1)
    assert rate == pytest.approx(50, abs=100 * 0.1 * harness.slack + 1e-9)
    harness.advance(1.0)
    assert b.pace("p", PACING) == pytest.approx(0.6, abs=0.1 * harness.slack + 1e-9)
    harness.advance(5.0)
    assert b.pace("p", PACING) == 1.0


def test_cuts_stop_at_the_minimum(harness: Harness) -> None:
    b = harness.buckets
    for _ in range(6):
        b.cut_pace("p", PACING)
        harness.advance(0.21)
    assert b.pace("p", PACING) <= 0.1 + 0.1 * (0.21 + harness.slack)


@pytest.mark.parametrize("floor", [-1.0, 9.5])
def test_impossible_floors_are_refused(harness: Harness, floor: float) -> None:
    with pytest.raises(ValueError, match="floor"):
        harness.buckets.take_lane("c", "p", 10, 10, floor, PACING, tokens=1)


def test_a_lane_may_book_ahead_and_is_told_when_its_last_token_is_due(harness: Harness) -> None:
    b = harness.buckets
    b.take_lane("c", "p", 100, 4, 1, PACING, tokens=3)  # level 1: the floor
    grant, _, due_in = b.take_lane("c", "p", 100, 4, 1, PACING, tokens=5, ahead=2)
    assert grant.granted == 2  # booked before they refill
    # Level -1 now: the last is due when the bucket is back at capacity - 1 (4 tokens' refill).
    assert due_in == pytest.approx(0.04, abs=harness.slack + 1e-6)
    otp, _, _ = b.take_lane("c", "p", 100, 4, 0, PACING, tokens=1)
    assert otp.granted == 0  # priority waits only for the booked tokens (level -1 now)


def test_grants_fall_on_one_schedule_even_after_the_bucket_sat_full(harness: Harness) -> None:
    """Two workers asking in turn: the second's token is due one interval after the first's,
    not the moment it asked (a burst-1 carrier refuses two PDUs closer than 1/M)."""
    b = harness.buckets
    first, _, first_due = b.take_lane("c", "p", 100, 4, 1, PACING, tokens=1)  # full bucket
    assert first.granted == 1 and first_due == 0
    harness.advance(0.002)
    second, _, second_due = b.take_lane("c", "p", 100, 4, 1, PACING, tokens=1)
    assert second.granted == 1
    assert 0.002 + second_due == pytest.approx(0.01, abs=harness.slack + 1e-6)


def test_marketing_yields_to_a_refused_priority_lane(harness: Harness) -> None:
    b = harness.buckets
    b.take_lane("c", "p", 10, 4, 0, PACING, tokens=4)  # empty
    otp, _, _ = b.take_lane("c", "p", 10, 4, 0, PACING, tokens=1)
    assert otp.granted == 0  # refused: marks the bucket
    harness.advance(0.15)  # 1.5 tokens refill
    booked, _, _ = b.take_lane("c", "p", 10, 4, 0, PACING, tokens=1, ahead=2, yield_s=1.0)
    assert booked.granted == 0  # no booking ahead while the OTP waits
    otp, _, _ = b.take_lane("c", "p", 10, 4, 0, PACING, tokens=1)
    assert otp.granted == 1


def test_a_yielding_lane_asks_again_a_token_after_the_priority_lane_is_served(
    harness: Harness,
) -> None:
    """At M = 1,000 (10 tokens, floor 2) a yielding marketing lane was told to come back once
    the bucket was above its yield floor of 9 (12 ms), though the OTP it yields to is served
    as soon as one token exists: each OTP cost marketing ~11 slots. It asks again a token
    after that one, and books as before once the OTP has it."""
    b = harness.buckets
    b.take_lane("c", "p", 1000, 10, 2, PACING, tokens=15, ahead=5)  # level -3
    otp, _, _ = b.take_lane("c", "p", 1000, 10, 0, PACING, tokens=1)
    assert otp.granted == 0  # refused: marks the bucket
    bulk, _, _ = b.take_lane("c", "p", 1000, 10, 2, PACING, tokens=4, ahead=5, yield_s=0.05)
    assert bulk.granted == 0
    # The OTP's token exists at level 1 (4 ms); marketing asks again at level 2, not at 10.
    assert bulk.retry_after == pytest.approx(0.005, abs=harness.slack + 1e-6)
    harness.advance(0.004)
    otp, _, _ = b.take_lane("c", "p", 1000, 10, 0, PACING, tokens=1)
    assert otp.granted == 1
    harness.advance(0.001)
    bulk, _, _ = b.take_lane("c", "p", 1000, 10, 2, PACING, tokens=4, ahead=5, yield_s=0.05)
    assert bulk.granted == 4  # served: booking ahead again (level 1 - 2 + 5 = 4 above)


def test_a_whole_take_grants_all_its_tokens_or_none(harness: Harness) -> None:
    """A take that books deep (a one-sender lane's priority group) takes nothing while it
    cannot have all: a part granted and dropped each pass kept the bucket in debt for good."""
    b = harness.buckets
    b.take_lane("c", "p", 100, 4, 0, PACING, tokens=10, ahead=14)  # level -6
    partial, _, _ = b.take_lane("c", "p", 100, 4, 0, PACING, tokens=10, ahead=14)
    assert partial.granted == 8  # without `whole`: the part above -14 (level -14 now)
    harness.advance(0.05)  # level -9
    refused, _, _ = b.take_lane("c", "p", 100, 4, 0, PACING, tokens=10, ahead=14, whole=True)
    assert refused.granted == 0
    # Nothing was taken: at -4 (the level the whole take needs) it is granted all ten.
    assert refused.retry_after == pytest.approx(0.05, abs=harness.slack + 1e-6)
    harness.advance(0.05)
    granted, _, _ = b.take_lane("c", "p", 100, 4, 0, PACING, tokens=10, ahead=14, whole=True)
    assert granted.granted == 10


def test_a_bucket_of_one_token_yields_its_next_token_to_a_refused_priority_lane(
    harness: Harness,
) -> None:
    """At M = 50 the bucket holds one token and marketing's floor is 0: while an OTP waits,
    marketing asking right at each refill took every token ahead of it (an OTP waited 8-9 s
    behind a marketing backlog on a strict carrier). While the priority lane waits, marketing
    takes nothing and asks again a token's time later; once served, it yields no longer."""
    b = harness.buckets
    b.take_lane("c", "p", 50, 1, 0, PACING, tokens=1)  # empty
    otp, _, _ = b.take_lane("c", "p", 50, 1, 0, PACING, tokens=1)
    assert otp.granted == 0  # refused: marks the bucket
    harness.advance(0.025)  # the token is back
    bulk, _, _ = b.take_lane("c", "p", 50, 1, 0, PACING, tokens=1, ahead=0.25, yield_s=0.05)
    assert bulk.granted == 0
    assert bulk.retry_after == pytest.approx(1 / 50, abs=harness.slack + 1e-6)
    otp, _, _ = b.take_lane("c", "p", 50, 1, 0, PACING, tokens=1)
    assert otp.granted == 1
    harness.advance(0.025)  # within the yield window, but the priority lane was served
    bulk, _, _ = b.take_lane("c", "p", 50, 1, 0, PACING, tokens=1, ahead=0.25, yield_s=0.05)
    assert bulk.granted == 1
