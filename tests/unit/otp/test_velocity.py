"""Velocity windows as the OTP API uses them: 10 sends per number per hour, then 429."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from freezegun import freeze_time

from api.otp import _hit_all, _send_hits
from otp import OtpLimits, OtpVelocityLimited
from ratelimit import MemoryWindowCounters


def test_eleventh_send_to_a_number_in_an_hour_is_refused_until_the_window_slides() -> None:
    with freeze_time("2026-11-23 12:00:00") as frozen:
        counters = MemoryWindowCounters(time.time)
        hits = _send_hits("a1", "+447400123456", OtpLimits())
        for _ in range(10):
            _hit_all(counters, hits, "too many")
            frozen.tick(timedelta(seconds=60))
        with pytest.raises(OtpVelocityLimited) as raised:
            _hit_all(counters, hits, "too many")
        assert raised.value.retry_after == 3600 - 600
        assert raised.value.code == "otp_velocity_limited"
        _hit_all(
            counters, _send_hits("a1", "+447400123457", OtpLimits()), "too many"
        )  # another number
        frozen.tick(timedelta(seconds=3000))
        _hit_all(counters, hits, "too many")  # the first send slid out of the window


def test_account_window_caps_all_numbers_together() -> None:
    with freeze_time("2026-11-23 12:00:00"):
        counters = MemoryWindowCounters(time.time)
        limits = OtpLimits(sends_per_account_per_hour=3)
        for n in range(3):
            _hit_all(counters, _send_hits("a1", f"+44740012345{n}", limits), "too many")
        with pytest.raises(OtpVelocityLimited):
            _hit_all(counters, _send_hits("a1", "+447400123459", limits), "too many")
