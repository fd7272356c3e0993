"""When a PDU reached the simulated carrier: the kernel's receive time, not the loop's read.

A carrier that counts gaps (burst 1: two submit_sm closer than 1/M are refused) must judge each
PDU by when it arrived. Stamped when the event loop got round to reading it, a loaded host's
~1 ms of read delay would be what it counts: two PDUs 5 ms apart on the wire, read 3.9 ms apart,
look too close. So each connection reads one PDU per `recvmsg` with `SO_TIMESTAMPNS` on (Linux:
the receive time of the segment that completed the PDU comes as ancillary data), and the PDUs
of every connection read in one loop iteration are decided in arrival order
(:class:`ArrivalQueue`), as one SMSC reading all its binds would see them.

Where the kernel gives no stamp (another OS, a socket without the option), the time right after
the read stands in.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Final, Protocol

from simulators.pdu import HEADER_SIZE, MAX_PDU_SIZE

# Linux <asm-generic/socket.h>; Python's socket module does not export them. The "old"
# 64-bit layout: struct timespec {int64 tv_sec; int64 tv_nsec} on every 64-bit ABI.
SO_TIMESTAMPNS: Final = 35
SCM_TIMESTAMPNS: Final = SO_TIMESTAMPNS
_TIMESPEC: Final = struct.Struct("@qq")
_ANCILLARY_SIZE: Final = socket.CMSG_SPACE(_TIMESPEC.size)
# PDUs read per readiness callback at most: enough that a connection's backlog is read within
# one loop iteration (so arrivals stay in order across connections), few enough to stay fair.
READ_BURST: Final = 1024


def arrival_time(now: float, wall_now: float, kernel_wall: float | None) -> float:
    """A PDU's arrival on the simulator's clock (`now`, seconds): `now` less how long ago the
    kernel received it (`wall_now - kernel_wall`, both wall-clock seconds); `now` without a
    kernel stamp. Never later than `now` (a wall clock stepped back claims nothing)."""
    if kernel_wall is None:
        return now
    return now - max(0.0, wall_now - kernel_wall)


# How fast a wall-minus-simulator-clock sample goes stale (s per s of age): NTP slews the wall
# clock by at most 0.5 ms/s.
WALL_OFFSET_AGING: Final = 0.001


class WallOffset:
    """The wall clock minus the simulator's clock, from the tightest bracketed sample.

    Reading the two clocks one after the other put whatever ran between them (a preemption,
    the GIL) into every arrival: a PDU dated up to that much early, so one spaced exactly 1/M
    after the last looked closer (a throttle 15 µs under 1/M at 1,000 MPS). Each sample is a
    wall read between two reads of the simulator's clock; the narrowest (aged) wins.
    """

    def __init__(self, clock: Callable[[], float], wall_clock: Callable[[], float]) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._offset = 0.0
        self._width = float("inf")
        self._sampled_at = 0.0

    def sample(self) -> tuple[float, float]:
        """(the simulator's clock now, the wall clock then) on the best offset so far."""
        before = self._clock()
        wall = self._wall_clock()
        now = self._clock()
        width = now - before
        if width <= self._width + (now - self._sampled_at) * WALL_OFFSET_AGING:
            self._offset = wall - (before + now) / 2.0
            self._width, self._sampled_at = width, now
        return now, now + self._offset


def kernel_stamp(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    """The `SCM_TIMESTAMPNS` receive time (wall-clock seconds) in `recvmsg` ancillary data."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanos = _TIMESPEC.unpack_from(data)
            return float(seconds) + float(nanos) / 1e9
    return None


def enable_kernel_stamps(sock: socket.socket) -> bool:
    """Ask the kernel to stamp what `sock` receives; False where it cannot (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


class StampedReader:
    """Reads whole PDUs off a non-blocking socket, one `recvmsg` per PDU part, each PDU with
    the kernel time of the segment that completed it (or the read time).

    A PDU is read as its 16-octet header, then exactly the rest of its `command_length`, so no
    read spans two PDUs and each gets a stamp of its own (TCP stamps a read with its last
    segment's time: a large read would give every PDU in it the latest one's arrival).
    The kernel does that too, earlier: segments queued unread on one connection are coalesced
    into one buffer stamped with the latest's time, so PDUs that queued up together (the loop
    late by more than their gap) share the last one's arrival, as a read-time stamp would
    have given them; one PDU read late is dated right.
    """

    def __init__(
        self,
        sock: socket.socket,
        clock: Callable[[], float],
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._sock = sock
        self._clock = clock
        self._wall_clock = wall_clock
        self._clocks = WallOffset(clock, wall_clock)
        self._partial = bytearray()
        self.closed = False  # the peer closed (or reset) the connection
        self.bad_length: bytes | None = None  # the header whose command_length broke framing

    def read(self, limit: int = READ_BURST) -> list[tuple[bytes, float]]:
        """Whole PDUs readable now, with their arrival times (see :func:`arrival_time`)."""
        frames: list[tuple[bytes, float]] = []
        while len(frames) < limit and not self.closed and self.bad_length is None:
            partial = self._partial
            if len(partial) < HEADER_SIZE:
                need = HEADER_SIZE - len(partial)
            else:
                (length,) = struct.unpack_from(">I", partial)
                if length < HEADER_SIZE or length > MAX_PDU_SIZE:
                    self.bad_length = bytes(partial)
                    break
                need = length - len(partial)
            if need:
                try:
                    data, ancillary, _, _ = self._sock.recvmsg(need, _ANCILLARY_SIZE)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    self.closed = True
                    break
                if not data:
                    self.closed = True
                    break
                partial += data
                stamp = kernel_stamp(ancillary)
                if len(data) < need:
                    continue
                if len(partial) == HEADER_SIZE:
                    (length,) = struct.unpack_from(">I", partial)
                    if length != HEADER_SIZE:
                        continue  # a body follows: its last segment dates the PDU
            else:
                stamp = None
            at = arrival_time(*self._clocks.sample(), stamp)
            frames.append((bytes(partial), at))
            partial.clear()
        return frames


class FrameSink(Protocol):
    """A session that decides PDUs handed to it in arrival order."""

    def take_frame(self, frame: bytes, at: float) -> None:
        """Handle one whole PDU that arrived at `at` (the simulator's clock)."""
        ...

    def after_frames(self) -> None:
        """The frames of this round are handled: write the answers, refill the window."""
        ...


class ArrivalQueue:
    """PDUs read in one loop iteration, from every connection, decided in arrival order.

    Readiness callbacks of one iteration each `put` what they read; the first schedules a
    drain with `call_soon`, which asyncio runs before the callbacks of the next poll, so every
    PDU already received when the loop polled is in this round and is decided by its stamp,
    whichever connection the loop happened to read first.
    """

    def __init__(self, schedule: Callable[[Callable[[], None]], object] | None = None) -> None:
        """`schedule` runs a callback after this round's reads: the running loop's
        `call_soon` unless given."""
        self._schedule = schedule
        self._heap: list[tuple[float, int, FrameSink, bytes]] = []
        self._order = itertools.count()
        self._scheduled = False

    def put(self, sink: FrameSink, frame: bytes, at: float) -> None:
        """Queue `frame` from `sink`, arrived at `at`, for this round's drain."""
        heapq.heappush(self._heap, (at, next(self._order), sink, frame))
        if not self._scheduled:
            self._scheduled = True
            schedule = self._schedule or asyncio.get_running_loop().call_soon
            schedule(self.drain)

    def drain(self) -> None:
        """Hand every queued frame to its sink, earliest arrival first; then finish each sink."""
        self._scheduled = False
        heap = self._heap
        touched: dict[int, FrameSink] = {}
        while heap:
            at, _, sink, frame = heapq.heappop(heap)
            touched.setdefault(id(sink), sink)
            sink.take_frame(frame, at)
        for sink in touched.values():
            sink.after_frames()
