"""Outage schedules and forced modes in the carrier model."""

from __future__ import annotations

from simulators.carrier import CarrierRuntime
from simulators.faults import Mode, scheduled_mode
from simulators.scenario import CarrierSim, Outage
from tests.fakes import FakeClock

OUTAGES = [
    Outage(after_s=10, for_s=5, mode=Mode.SYSERR),
    Outage(after_s=20, for_s=1, mode=Mode.DOWN),
]


def test_schedule_gives_each_window_its_mode_and_normal_elsewhere() -> None:
    times = [0, 9.99, 10, 14.99, 15, 20, 20.5, 21]
    assert [scheduled_mode(OUTAGES, t) for t in times] == [
        Mode.NORMAL,
        Mode.NORMAL,
        Mode.SYSERR,
        Mode.SYSERR,
        Mode.NORMAL,
        Mode.DOWN,
        Mode.DOWN,
        Mode.NORMAL,
    ]


def test_live_mode_overrides_the_schedule_until_cleared() -> None:
    clock = FakeClock(500.0)
    runtime = CarrierRuntime(CarrierSim(name="a", system_id="a", outages=OUTAGES), 0, clock, clock)
    assert runtime.refresh_mode() is None  # normal at start: no change
    clock.now += 12
    assert runtime.refresh_mode() is Mode.SYSERR
    runtime.live_mode = Mode.SILENT
    assert runtime.refresh_mode() is Mode.SILENT
    runtime.live_mode = None
    assert runtime.refresh_mode() is Mode.SYSERR
    clock.now += 4
    assert runtime.refresh_mode() is Mode.NORMAL
