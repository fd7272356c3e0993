"""The pumping detector: a surge with collapsed conversion blocks; a converting surge does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun import freeze_time

from otp import Block, PrefixStats, PumpingConfig, assess, prefix_of, windows

CONFIG = PumpingConfig()  # 600 s window, 24 h baseline, 10x surge, 30 sends, 20% conversion


def test_prefix_of_takes_leading_digits() -> None:
    assert prefix_of("+447400123456", 5) == "+44740"
    assert prefix_of("+1", 5) == "+1"


def test_pumping_burst_is_blocked() -> None:
    verdict = assess(
        PrefixStats(recent_sends=200, baseline_sends=24, settled=150, approved=3), CONFIG
    )
    assert verdict.block and "2% of 150 verified" in verdict.reason


def test_converting_surge_is_not_blocked() -> None:
    verdict = assess(
        PrefixStats(recent_sends=200, baseline_sends=24, settled=150, approved=120), CONFIG
    )
    assert not verdict.block and "80% verified" in verdict.reason


def test_usual_high_volume_with_poor_conversion_is_not_a_surge() -> None:
    # 200 per 10 min is the usual 1,200/h here: no jump, whatever the conversion
    verdict = assess(PrefixStats(200, 28_800, 150, 0), CONFIG)
    assert not verdict.block and "below 10x" in verdict.reason


def test_few_sends_or_unsettled_conversion_give_no_verdict() -> None:
    assert not assess(PrefixStats(29, 0, 29, 0), CONFIG).block
    assert not assess(PrefixStats(200, 0, 19, 0), CONFIG).block


def test_windows_start_after_a_lift() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    w = windows(now, CONFIG)
    assert w.recent_start == now - timedelta(seconds=600)
    assert w.settled_before == now - timedelta(seconds=60)
    assert w.baseline_start == now - timedelta(seconds=600 + 86400)
    lifted = now - timedelta(seconds=120)
    assert windows(now, CONFIG, lifted).recent_start == lifted


def test_block_expires_on_time_and_when_lifted() -> None:
    with freeze_time("2026-11-23 12:00:00") as frozen:
        start = datetime.now(UTC)
        block = Block("+44740", start, start + timedelta(seconds=CONFIG.block_seconds), "burst")
        assert block.active(datetime.now(UTC))
        frozen.tick(timedelta(seconds=3599))
        assert block.active(datetime.now(UTC))
        frozen.tick(timedelta(seconds=1))
        assert not block.active(datetime.now(UTC))
    lifted = Block("+44740", start, start + timedelta(hours=1), "burst", lifted_at=start)
    assert not lifted.active(start + timedelta(seconds=1))
