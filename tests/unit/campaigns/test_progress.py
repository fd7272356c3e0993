"""The dashboard's view of a live campaign (pure): tally, rate, ETA, quiet-hour hold."""

from __future__ import annotations

from datetime import UTC, datetime

from campaigns import NO_HOLD, Hold, eta_seconds, quiet_hold, rate, shown_state, tally, zone_key

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # New York 07:00, London 12:00, India 17:30
US, UK, INDIA = "+12125550123", "+447400123456", "+919876543210"


def test_a_tally_counts_each_outcome_once_where_a_reader_looks_for_it() -> None:
    counts = tally(
        {
            "scheduled": 10,
            "queued": 3,
            "sending": 2,
            "sent": 5,
            "delivered": 20,
            "undelivered": 4,
            "expired": 1,
            "failed": 2,
            "rejected": 3,
        },
        skipped_at_load=7,
    )
    assert counts.total == 50 + 7
    assert (counts.sent, counts.delivered, counts.failed) == (30, 20, 7)  # undelivered: both
    assert (counts.skipped, counts.remaining, counts.done) == (10, 15, 42)


def test_rate_is_over_the_last_minute_of_samples() -> None:
    assert rate([]) == 0.0 and rate([(0.0, 10)]) == 0.0
    assert rate([(0.0, 0), (2.0, 10)]) == 5.0
    # the sample of 90 s ago is outside the window: from the one at 40 s on
    assert rate([(0.0, 0), (40.0, 100), (100.0, 220)]) == 2.0
    assert rate([(0.0, 50), (1.0, 40)]) == 0.0  # never backwards (a cancel takes rows back)


def test_eta_goes_by_the_rate_then_the_max_rate_and_is_unknown_when_all_wait_for_a_window() -> None:
    assert eta_seconds(100, 0, 10.0, 50.0) == 10
    assert eta_seconds(100, 0, 0.0, 50.0) == 2  # before any rate is measured
    assert eta_seconds(100, 40, 10.0, None) == 6  # the held ones are not counted
    assert eta_seconds(100, 100, 10.0, 50.0) is None
    assert eta_seconds(100, 0, 0.0, None) is None
    assert eta_seconds(0, 0, 0.0, None) == 0


def test_the_hold_counts_recipients_whose_window_is_closed_and_when_the_first_opens() -> None:
    zones = {zone_key(US): 4, zone_key(UK): 2, zone_key(INDIA): 3}
    assert quiet_hold(None, zones, NOW) == NO_HOLD
    assert quiet_hold("09:00-20:00", zones, NOW) == Hold(
        4, 1, datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    )
    # at 21:00 UTC: New York 16:00 open, London 21:00 and India 02:30 closed
    late = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)
    assert quiet_hold("09:00-20:00", zones, late) == Hold(
        5, 2, datetime(2026, 11, 24, 3, 30, tzinfo=UTC)
    )


def test_the_hold_walks_to_the_opening_once_per_zone_while_it_stays_ahead() -> None:
    memo: dict[tuple[str, str], datetime | None] = {}
    first = quiet_hold("09:00-20:00", {zone_key(US): 1}, NOW, memo)
    memo[("09:00-20:00", zone_key(US))] = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # a marker
    again = quiet_hold("09:00-20:00", {zone_key(US): 1}, NOW, memo)
    assert first.until == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    assert again.until == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # from the memo, not walked
    passed = datetime(2026, 11, 23, 13, 30, tzinfo=UTC)  # past the memo's opening: walked again
    assert quiet_hold("09:00-20:00", {zone_key(US): 1}, passed, memo).until == first.until


def test_a_running_campaign_before_its_start_shows_as_scheduled() -> None:
    assert shown_state("running", datetime(2026, 11, 24, tzinfo=UTC), NOW) == "scheduled"
    assert shown_state("running", NOW, NOW) == "running"
    assert shown_state("paused", datetime(2026, 11, 24, tzinfo=UTC), NOW) == "paused"
