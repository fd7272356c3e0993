"""The wait for a PDU's slot: sleep, then spin the last stretch."""

from __future__ import annotations

import time

from carriers.slot_wait import SPIN, wait_until


def test_the_wait_sleeps_to_just_before_the_slot_then_spins_to_it() -> None:
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    at = time.monotonic() + 0.003
    ended = wait_until(at, time.monotonic, sleep)
    assert at <= ended < at + 0.002
    assert len(slept) == 1 and slept[0] <= 0.003 - SPIN + 1e-9  # the last stretch spun


def test_a_clock_that_stands_still_ends_the_spin_with_a_sleep_to_the_slot() -> None:
    """An injected clock moves only when slept on: the spin gives up after 2 x SPIN of real
    time and sleeps the rest."""
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    assert wait_until(1.0, lambda: clock[0], sleep) == 1.0
    assert wait_until(0.5, lambda: clock[0], sleep) == 1.0  # past: no wait
