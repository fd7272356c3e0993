"""The pure lease decision: when a `sending` row's worker is presumed dead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time

from messaging.leases import LeasePolicy

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLICY = LeasePolicy(lease_seconds=5, grace_seconds=1)


def test_a_lease_renewed_in_time_is_alive() -> None:
    until = POLICY.until(NOW)
    assert until == NOW + timedelta(seconds=5)
    assert not POLICY.is_dead(until, NOW + timedelta(seconds=5))


def test_an_expired_lease_is_alive_during_the_grace_then_dead() -> None:
    until = POLICY.until(NOW)
    assert not POLICY.is_dead(until, until + timedelta(seconds=1))
    assert POLICY.is_dead(until, until + timedelta(seconds=1, microseconds=1))


def test_renewals_leave_three_tries_before_the_lease_runs_out() -> None:
    assert POLICY.renew_every * 3 == POLICY.lease_seconds


def test_the_sweeper_prefilter_never_hides_a_dead_lease() -> None:
    for seconds in (0.0, 0.5, 1.0, 1.5, 7.0):
        now = NOW + timedelta(seconds=seconds)
        until = NOW
        if POLICY.is_dead(until, now):
            assert until < POLICY.dead_before(now)


def test_the_decision_follows_the_clock_it_is_given() -> None:
    """Frozen wall clock: the policy reads only the `now` it is passed."""
    with freeze_time(NOW + timedelta(hours=5)):
        assert not POLICY.is_dead(POLICY.until(NOW), NOW)


@pytest.mark.parametrize(("lease", "grace"), [(0, 1), (-5, 1), (5, -1)])
def test_nonsense_policies_are_refused(lease: float, grace: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        LeasePolicy(lease, grace)
