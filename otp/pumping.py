"""The SMS-pumping detector as a pure model.

Pumping fraud (artificially inflated traffic) drives OTP sends to premium ranges the fraudster
shares revenue on; nobody ever enters those codes. So the signature is a prefix whose send rate
jumps far above its usual level while its verify conversion collapses. Both must hold: a real
surge (a launch, a TV ad) still converts, and a quiet prefix with poor conversion costs little.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from otp.config import PumpingConfig


def prefix_of(e164: str, digits: int) -> str:
    """The destination prefix a number falls in: `+` and its first `digits` digits."""
    return "+" + e164.lstrip("+")[:digits]


@dataclass(frozen=True)
class Windows:
    """The instants that bound the statistics of one assessment."""

    recent_start: datetime
    settled_before: datetime
    baseline_start: datetime


def windows(now: datetime, config: PumpingConfig, lifted_at: datetime | None = None) -> Windows:
    """Recent window, settling cut-off and baseline start at `now`.

    Sends before an operator lifted a block (`lifted_at`) no longer count toward the recent
    window, so lifting a block is not undone by the very burst that caused it.
    """
    recent_start = now - timedelta(seconds=config.window_seconds)
    if lifted_at is not None and lifted_at > recent_start:
        recent_start = lifted_at
    return Windows(
        recent_start=recent_start,
        settled_before=now - timedelta(seconds=config.conversion_grace),
        baseline_start=now - timedelta(seconds=config.window_seconds + config.baseline_seconds),
    )


@dataclass(frozen=True)
class PrefixStats:
    """Counts for one prefix: recent sends, the baseline before them, and recent conversion.

    `settled` are recent verifications older than the conversion grace; `approved` how many of
    those were approved.
    """

    recent_sends: int
    baseline_sends: int
    settled: int
    approved: int


@dataclass(frozen=True)
class Verdict:
    """Whether to block, and a sentence an operator can read."""

    block: bool
    reason: str


def assess(stats: PrefixStats, config: PumpingConfig) -> Verdict:
    """Block when the recent rate surges above the usual one and conversion has collapsed."""
    if stats.recent_sends < config.min_sends:
        return Verdict(
            False, f"{stats.recent_sends} recent sends: below {config.min_sends}, no verdict"
        )
    recent_per_hour = stats.recent_sends * 3600.0 / config.window_seconds
    usual_per_hour = max(
        stats.baseline_sends * 3600.0 / config.baseline_seconds, config.min_usual_per_hour
    )
    surge = recent_per_hour / usual_per_hour
    if surge < config.surge_factor:
        return Verdict(False, f"{surge:.1f}x the usual rate: below {config.surge_factor:g}x")
    if stats.settled < config.min_settled:
        return Verdict(
            False, f"{surge:.1f}x the usual rate, {stats.settled} settled: conversion not known yet"
        )
    conversion = stats.approved / stats.settled
    if conversion >= config.max_conversion:
        return Verdict(False, f"{surge:.1f}x the usual rate but {conversion:.0%} verified")
    return Verdict(
        True,
        f"{stats.recent_sends} sends in {config.window_seconds:g} s is {surge:.1f}x the usual "
        f"{usual_per_hour:.1f}/h, and only {conversion:.0%} of {stats.settled} verified",
    )


@dataclass(frozen=True)
class Block:
    """A prefix blocked until `until` (lifted early when `lifted_at` is set)."""

    prefix: str
    blocked_at: datetime
    until: datetime
    reason: str
    lifted_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        """True while the block holds."""
        return self.lifted_at is None and now < self.until
