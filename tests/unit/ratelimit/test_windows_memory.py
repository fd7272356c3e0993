"""The memory window twin on `time.time` under freezegun: hour-long OTP velocity windows."""

from __future__ import annotations

import time

from freezegun import freeze_time

from ratelimit import MemoryWindowCounters, WindowResult


def test_five_otps_per_number_per_hour_then_the_sixth_waits_for_the_first() -> None:
    with freeze_time("2026-01-01 12:00:00") as frozen:
        windows = MemoryWindowCounters(time.time)
        for _ in range(5):  # one a minute, 12:00 to 12:04
            assert windows.hit("otp:+447700900123", limit=5, window_seconds=3600).allowed
            frozen.tick(60)
        # 12:05: five in the last hour
        assert windows.hit("otp:+447700900123", 5, 3600) == WindowResult(False, 0, 3300.0)
        frozen.move_to("2026-01-01 13:00:00")  # the 12:00 one has left
        assert windows.hit("otp:+447700900123", 5, 3600) == WindowResult(True, 0, 0.0)


@freeze_time("2026-01-01 12:00:00")
def test_numbers_and_accounts_are_counted_apart() -> None:
    windows = MemoryWindowCounters(time.time)
    assert windows.hit("otp:+447700900123", limit=1, window_seconds=3600).allowed
    assert windows.hit("account:42", limit=1, window_seconds=3600).allowed
    assert not windows.hit("otp:+447700900123", limit=1, window_seconds=3600).allowed
