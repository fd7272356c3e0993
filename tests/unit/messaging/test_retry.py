"""next_action: backoff, validity and re-routing after a removed carrier (pure; frozen clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from messaging import Action, NextAction, ResendPolicy, RetryPolicy, next_action

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOUR = NOW + timedelta(hours=1)


@pytest.mark.parametrize(("attempt", "wait"), [(0, 5), (1, 5), (2, 10), (3, 20), (8, 600)])
def test_the_wait_doubles_from_the_first_and_is_capped(attempt: int, wait: int) -> None:
    decision = next_action(attempt, "unbound", NOW, NOW + timedelta(days=1))
    assert decision == NextAction(Action.RETRY, "unbound", NOW + timedelta(seconds=wait))


def test_a_retry_that_would_fall_past_validity_fails_with_the_last_error() -> None:
    decision = next_action(3, "carrier_system_error:0x08", NOW, NOW + timedelta(seconds=20))
    assert decision == NextAction(Action.FAIL, "carrier_system_error:0x08")


def test_no_error_means_no_carrier_had_capacity() -> None:
    assert next_action(1, None, NOW, HOUR).code == "no_capacity"


def test_a_removed_carrier_is_routed_again_at_once_while_valid() -> None:
    assert next_action(4, "carrier_removed", NOW, HOUR) == NextAction(
        Action.RETRY, "carrier_removed", NOW
    )
    assert next_action(4, "carrier_removed", HOUR, HOUR).action is Action.FAIL


def test_a_policy_of_its_own_sets_first_wait_and_cap() -> None:
    policy = RetryPolicy(first=1.0, cap=3.0)
    waits = [next_action(n, "unbound", NOW, HOUR, policy).at for n in (1, 2, 3)]
    assert waits == [NOW + timedelta(seconds=s) for s in (1, 2, 3)]


def test_a_policy_refuses_a_cap_below_its_first_wait() -> None:
    with pytest.raises(ValueError, match="cap"):
        RetryPolicy(first=10, cap=5)


@freeze_time("2026-12-01 12:00:00")
def test_validity_is_judged_at_the_clock_passed_in() -> None:
    now = datetime.now(UTC)
    valid_until = now + timedelta(seconds=6)
    assert next_action(1, "unbound", now, valid_until).action is Action.RETRY
    assert next_action(2, "unbound", now, valid_until).action is Action.FAIL


@pytest.mark.parametrize(
    ("message_class", "attempts", "left", "allowed"),
    [
        ("otp", 1, 60, True),
        ("otp", 3, 60, False),  # out of tries
        ("otp", 1, 29, False),  # too little validity left for another carrier
        ("marketing", 1, 60, False),  # not a class that is resent
    ],
)
def test_a_resend_needs_the_class_a_try_left_and_time_left(
    message_class: str, attempts: int, left: int, allowed: bool
) -> None:
    policy = ResendPolicy()
    assert policy.allows(message_class, attempts, NOW + timedelta(seconds=left), NOW) is allowed
