"""Over TCP: the simulator judges a burst-1 carrier's submits by their kernel arrival time,
however late its loop reads them, and counts real throttles as throttles."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from simulators import Simulator, SimulatorThread
from simulators.pdu import CommandStatus
from tests.integration.simulators.conftest import carrier
from tests.integration.simulators.smpp_client import RawClient

OK, THROTTLED = CommandStatus.ESME_ROK, CommandStatus.ESME_RTHROTTLED


def _stall(sim: SimulatorThread, seconds: float) -> threading.Thread:
    """Block the simulator's loop for `seconds` (a loaded host's late read, exaggerated)."""
    stall: Callable[[Simulator], None] = lambda _: time.sleep(seconds)  # noqa: E731
    thread = threading.Thread(target=sim.call, args=(stall,), daemon=True)
    thread.start()
    time.sleep(0.02)  # the stall has begun
    return thread


@contextlib.contextmanager
def _two_binds(sim: SimulatorThread) -> Iterator[tuple[RawClient, RawClient]]:
    port = sim.simulator.ports["alpha"]
    with RawClient(port) as a, RawClient(port) as b:
        a.bind("alpha", "alphapw")
        b.bind("alpha", "alphapw")
        yield a, b


def _late_then_on_time(sim: SimulatorThread, first: RawClient, second: RawClient) -> None:
    """`first` submits while the loop stalls (read ~180 ms late), `second` 230 ms after it,
    once the loop reads again: read ~50 ms apart, arrived 230 ms apart."""
    stall = _stall(sim, 0.2)
    first.submit()
    time.sleep(0.23)
    second.submit()
    stall.join()


def test_a_submit_read_late_is_judged_by_when_it_arrived(
    start_sim: Callable[..., SimulatorThread],
) -> None:
    sim = start_sim(carrier(mps=5, burst=1, throttle="reject", receipts=False))  # 200 ms
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        _late_then_on_time(sim, client, client)
        assert [client.read().status for _ in range(2)] == [OK, OK]
    assert sim.stats()["alpha"]["throttled"] == 0


def test_two_binds_one_read_late_are_judged_by_arrival(
    start_sim: Callable[..., SimulatorThread],
) -> None:
    sim = start_sim(carrier(mps=5, burst=1, throttle="reject", receipts=False, max_binds=2))
    with _two_binds(sim) as (a, b):
        _late_then_on_time(sim, a, b)
        assert (a.read().status, b.read().status) == (OK, OK)
    stats = sim.stats()["alpha"]
    assert (stats["throttled"], stats["throttled_after_other_bind"]) == (0, 0)


def test_submits_closer_than_1_over_m_are_throttled_and_counted(
    start_sim: Callable[..., SimulatorThread],
) -> None:
    sim = start_sim(carrier(mps=5, burst=1, throttle="reject", receipts=False, max_binds=2))
    with _two_binds(sim) as (a, b):
        # 200 ms per token: b's submit right behind a's (refused), then a pause longer than a
        # token (a loaded host can only stretch it), then the pair again. Spaced by sleeps of
        # a fraction of a token instead, a late sleep let b's submit find a token.
        for _ in range(2):
            a.submit()
            b.submit()
            time.sleep(0.5)
        assert [a.read().status for _ in range(2)] == [OK, OK]
        assert [b.read().status for _ in range(2)] == [THROTTLED, THROTTLED]
    stats = sim.stats()["alpha"]
    assert (stats["submits_accepted"], stats["throttled"]) == (2, 2)
    assert stats["throttled_after_other_bind"] == 2  # each right after the other bind's submit
