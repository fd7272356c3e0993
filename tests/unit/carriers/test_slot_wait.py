"""The wait for a PDU's slot: sleep, then spin the last stretch."""

from __future__ import annotations

import sys
import time

import pytest

from carriers.slot_wait import SPIN, SWITCH_INTERVAL, precise_switching, wait_until


def test_the_wait_sleeps_to_just_before_the_slot_then_spins_to_it() -> None:
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    at = time.monotonic() + 0.003
    ended = wait_until(at, time.monotonic, sleep)
    assert ended >= at  # never early (how late depends on the host: not asserted)
    assert slept[0] <= 0.003 - SPIN + 1e-9  # slept to before the slot, the rest spun or slept


def test_a_clock_that_stands_still_ends_the_spin_with_a_sleep_to_the_slot() -> None:
    """An injected clock moves only when slept on: the spin gives up after 2 x SPIN of real
    time and sleeps the rest."""
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    assert wait_until(1.0, lambda: clock[0], sleep) == 1.0
    assert wait_until(0.5, lambda: clock[0], sleep) == 1.0  # past: no wait


def test_a_pacing_process_hands_the_gil_over_within_half_a_millisecond() -> None:
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        precise_switching()
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL, rel=0.01)
        sys.setswitchinterval(0.0001)
        precise_switching()  # never made coarser
        assert sys.getswitchinterval() == pytest.approx(0.0001, rel=0.02)
    finally:
        sys.setswitchinterval(before)
