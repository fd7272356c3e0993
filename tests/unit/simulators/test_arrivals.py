"""Arrival stamps: a PDU is judged by when it arrived, not when the loop read it."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

import pytest

from simulators.arrivals import (
    SCM_TIMESTAMPNS,
    ArrivalQueue,
    WallOffset,
    arrival_time,
    kernel_stamp,
)
from simulators.limiter import RateLimiter


def test_arrival_time_is_now_less_the_kernel_stamps_age() -> None:
    assert arrival_time(100.0, 5_000.0, 4_999.997) == pytest.approx(99.997)
    assert arrival_time(100.0, 5_000.0, None) == 100.0
    # A wall clock stepped back (stamp after the read) claims nothing in the future.
    assert arrival_time(100.0, 5_000.0, 5_000.5) == 100.0


def test_kernel_stamp_reads_the_timespec_of_scm_timestampns() -> None:
    data = struct.pack("@qq", 1_700_000_000, 250_000_000)
    assert kernel_stamp([(socket.SOL_SOCKET, SCM_TIMESTAMPNS, data)]) == 1_700_000_000.25
    assert kernel_stamp([(socket.SOL_SOCKET, SCM_TIMESTAMPNS + 1, data)]) is None
    assert kernel_stamp([]) is None


def test_a_burst_1_limiter_decides_from_arrival_stamps_not_from_its_clock() -> None:
    """Five PDUs 26 ms apart on the wire, all read at once after a 150-ms stall: by their
    stamps none is too close for 40/s; stamped when read, four would be."""
    now = [10.150]
    limiter = RateLimiter(40, 1, lambda: now[0])
    limiter.bucket.tokens, limiter.bucket._stamp = 1.0, 9.0
    assert [limiter.try_acquire(10.0 + 0.026 * i) for i in range(5)] == [True] * 5
    read_time = RateLimiter(40, 1, lambda: now[0])
    assert [read_time.try_acquire() for _ in range(5)] == [True, False, False, False, False]


def test_a_burst_1_limiter_refuses_stamps_closer_than_one_over_m() -> None:
    limiter = RateLimiter(40, 1, lambda: 0.0)
    assert [limiter.try_acquire(at) for at in (1.0, 1.02, 1.05, 1.074)] == [
        True,
        False,  # 20 ms after the last accepted: under 25
        True,  # 50 ms
        False,  # 24 ms
    ]


class _Sink:
    def __init__(self, name: str, log: list[tuple[str, bytes, float]]) -> None:
        self.name, self.log, self.finished = name, log, 0

    def take_frame(self, frame: bytes, at: float) -> None:
        self.log.append((self.name, frame, at))

    def after_frames(self) -> None:
        self.finished += 1


def test_the_arrival_queue_decides_every_connections_pdus_in_arrival_order() -> None:
    """Read connection by connection, decided by stamp: one SMSC seeing all its binds."""
    log: list[tuple[str, bytes, float]] = []
    a, b = _Sink("a", log), _Sink("b", log)

    later: list[Callable[[], None]] = []
    queue = ArrivalQueue(later.append)
    queue.put(a, b"a0", 1.000)
    queue.put(a, b"a1", 1.044)
    queue.put(b, b"b0", 1.022)
    queue.put(b, b"b1", 1.066)
    assert log == [] and len(later) == 1  # one drain, after this round's reads
    later.pop()()
    assert [frame for _, frame, _ in log] == [b"a0", b"b0", b"a1", b"b1"]
    assert (a.finished, b.finished) == (1, 1)  # answered once per round each


def test_the_wall_offset_keeps_its_tightest_sample_not_a_preempted_one() -> None:
    """Clocks 1,000 s apart. A sample whose two reads of the simulator's clock are 500 µs apart
    (preempted between them; its wall read came late in the gap) does not move the offset
    found by a 1-µs one 0.1 s before: arrivals are not dated early by that gap."""
    monotonic_reads = iter([10.0, 10.000001, 10.1, 10.1005])
    wall_reads = iter([1010.0000005, 1010.1004])
    offset = WallOffset(lambda: next(monotonic_reads), lambda: next(wall_reads))
    now, wall = offset.sample()
    assert now == 10.000001 and wall - now == pytest.approx(1000.0, abs=1e-9)
    now, wall = offset.sample()
    assert now == 10.1005 and wall - now == pytest.approx(1000.0, abs=1e-9)
