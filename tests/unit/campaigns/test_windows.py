"""Quiet hours in the recipient's local time, across zones and DST, with freezegun's clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from campaigns import SendWindow, is_open, next_open, zone_key, zones_of_key
from messaging import InvalidInput

DAY = SendWindow.parse("09:00-20:00")
US_EAST, INDIA, UK = "+12125550123", "+919876543210", "+447400123456"


def _open_now(number: str, window: SendWindow = DAY) -> bool:
    return is_open(window, zones_of_key(zone_key(number)), datetime.now(UTC))


@pytest.mark.parametrize(
    ("instant", "open_for"),
    [
        ("2026-11-24T03:00:00Z", set()),  # India 08:30, London 03:00, New York 22:00
        ("2026-11-24T03:30:00Z", {INDIA}),  # India 09:00 sharp: open
        ("2026-11-24T09:00:00Z", {INDIA, UK}),
        ("2026-11-24T14:00:00Z", {INDIA, UK, US_EAST}),  # New York 09:00
        ("2026-11-24T14:30:00Z", {UK, US_EAST}),  # India 20:00 sharp: closed
        ("2026-11-24T20:00:00Z", {US_EAST}),  # London 20:00: closed; New York 15:00
        ("2026-11-25T01:00:00Z", set()),  # New York 20:00: closed
    ],
)
def test_each_number_is_open_only_inside_its_own_local_window(
    instant: str, open_for: set[str]
) -> None:
    with freeze_time(instant):
        assert {n for n in (US_EAST, INDIA, UK) if _open_now(n)} == open_for


def test_the_window_follows_daylight_saving_time() -> None:
    with freeze_time("2026-07-01T13:30:00Z"):  # New York EDT (UTC-4): 09:30
        assert _open_now(US_EAST)
    with freeze_time("2026-12-01T13:30:00Z"):  # EST (UTC-5): 08:30
        assert not _open_now(US_EAST)


def test_a_number_with_several_zones_gets_the_most_restrictive_window() -> None:
    zones = ("America/New_York", "America/Los_Angeles")
    # 09:30 in New York is 06:30 in Los Angeles: closed for the pair.
    assert not is_open(DAY, zones, datetime(2026, 11, 24, 14, 30, tzinfo=UTC))
    # 12:00 in Los Angeles is 15:00 in New York: open in both.
    assert is_open(DAY, zones, datetime(2026, 11, 24, 20, 0, tzinfo=UTC))
    assert next_open(DAY, zones, datetime(2026, 11, 24, 14, 30, tzinfo=UTC)) == datetime(
        2026, 11, 24, 17, 0, tzinfo=UTC
    )


def test_an_australian_mobile_spans_several_zones() -> None:
    assert len(zones_of_key(zone_key("+61412345678"))) > 1


def test_a_window_may_wrap_past_midnight_and_none_is_always_open() -> None:
    night = SendWindow.parse({"start": "22:00", "end": "02:00"})
    assert is_open(night, ("UTC",), datetime(2026, 1, 1, 23, 0, tzinfo=UTC))
    assert is_open(night, ("UTC",), datetime(2026, 1, 1, 1, 59, tzinfo=UTC))
    assert not is_open(night, ("UTC",), datetime(2026, 1, 1, 2, 0, tzinfo=UTC))
    assert is_open(None, ("Asia/Tokyo",), datetime(2026, 1, 1, 3, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("9-20", "send_window.start"),
        ("09:00", "send_window"),
        ("24:00-08:00", "send_window.start"),
        ("09:00-09:00", "send_window"),
        ({"start": "09:00"}, "send_window"),
        (42, "send_window"),
    ],
)
def test_bad_windows_are_refused_naming_the_field(value: object, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        SendWindow.parse(value)
    assert caught.value.field == field
