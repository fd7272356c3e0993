"""Waiting for a PDU's slot to the ~10 µs: sleep, then spin the last stretch.

A sleep wakes ~50-100 µs late (more on a loaded host); a lane that may send only 1/M after its
last PDU (a burst-1 carrier) can catch a late slot up at no more than `1/r - 1/M` a slot (76 µs
at M = 200), so most of each oversleep was lost for good.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

# Sleep until this close to the slot, then spin.
SPIN = 0.0002


# The interpreter hands the GIL to a waiting thread after this long (CPython's default: 5 ms).
# A sender waking for its slot waits that long behind a thread running Python (the recorder's
# statements, the reader's decoding): a late slot a burst-1 carrier never gives back.
SWITCH_INTERVAL = 0.0005


def precise_switching() -> None:
    """Make this process hand the GIL over within `SWITCH_INTERVAL` (never longer than it
    already does): for a process that paces PDUs to the ~100 µs."""
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))


class SlotMissed(Exception):  # an outcome of a wait, never reported: not in the error tree
    """The wait for a PDU's slot ended after its `not_after`: nothing was written (on a
    carrier that refuses gaps under 1/M, a late write could land next to another sender's)."""


def wait_until(
    at: float,
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
    spin: float = SPIN,
) -> float:
    """Wait until `at` on `monotonic`: sleep until `spin` before it, then spin (at most
    `2 * spin` of real time, so an injected clock that stands still ends the spin); returns
    the time it ended."""
    now = monotonic()
    if at - now > spin:
        sleep(at - now - spin)
        now = monotonic()
    bound = time.perf_counter() + 2 * spin
    while now < at and time.perf_counter() < bound:
        now = monotonic()
    if now < at:
        sleep(at - now)
        now = monotonic()
    return now
