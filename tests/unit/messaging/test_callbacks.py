"""Pure callback rules: which events a client wants, and the retry schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from messaging import CallbackRetry, CallbackScope, Status, next_callback_attempt, wants_event

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLICY = CallbackRetry(
    first=timedelta(seconds=2), cap=timedelta(minutes=10), give_up_after=timedelta(hours=24)
)


def test_all_scope_wants_every_status_and_final_only_the_final_ones() -> None:
    assert all(wants_event(CallbackScope.ALL, s.value) for s in Status)
    finals = {s.value for s in Status if wants_event(CallbackScope.FINAL, s.value)}
    assert finals == {"delivered", "undelivered", "failed", "expired", "rejected", "canceled"}


def test_retry_waits_double_from_the_first_wait() -> None:
    waits = [next_callback_attempt(n, T0, T0, POLICY) for n in (1, 2, 3, 4)]
    assert waits == [T0 + timedelta(seconds=s) for s in (2, 4, 8, 16)]


def test_retry_wait_is_capped() -> None:
    assert next_callback_attempt(12, T0, T0, POLICY) == T0 + timedelta(minutes=10)
    assert next_callback_attempt(10_000, T0, T0, POLICY) == T0 + timedelta(minutes=10)


def test_the_last_try_lands_on_the_24_hour_mark_and_then_it_gives_up() -> None:
    almost = T0 + timedelta(hours=24) - timedelta(minutes=1)
    assert next_callback_attempt(40, almost, T0, POLICY) == T0 + timedelta(hours=24)
    assert next_callback_attempt(41, T0 + timedelta(hours=24), T0, POLICY) is None


@pytest.mark.parametrize("attempts", [0, 1])
def test_a_first_failure_waits_the_first_wait(attempts: int) -> None:
    assert next_callback_attempt(attempts, T0, T0, POLICY) == T0 + timedelta(seconds=2)
