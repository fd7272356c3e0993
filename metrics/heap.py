"""The cyclic garbage collector of a long-running Switchboard process, tuned once at start.

perf over a whole `bench/e2e.py --postgres --callbacks` run put 5.4% of the machine's CPU
(7.5% of all Python CPU) in CPython's cycle collector (`gc_collect_main`, `visit_decref`,
`visit_reachable`): at the default thresholds (700, 10, 10) every process ran a young
collection every 700 net allocations of tracked objects, and every older collection walked
the hundreds of thousands of objects that imports and start-up leave for good (modules,
SQLAlchemy's compiled statements, Celery's app, pydantic's validators).

`settle_heap` does what long-lived servers do (Instagram's `gc.freeze` before fork):
- one full collection, then `gc.freeze()`: what start-up left alive moves to the permanent
  generation, which no later collection walks (and, before a fork, whose pages the children
  share without the collector's writes copying them);
- young collections every `young` net allocations instead of 700. Objects a request or a
  batch allocates and frees never count (CPython's counter goes down on each deallocation),
  so this bounds only what lives on; cycles are still found, just less often.

Pure process state, no I/O: any layer's entry point may call it.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

DEFAULT_YOUNG = 20_000  # net tracked allocations between young collections (CPython: 700)


@dataclass(frozen=True)
class HeapSettled:
    """What `settle_heap` did: objects frozen and the thresholds now in force."""

    frozen: int
    thresholds: tuple[int, int, int]


def settle_heap(young: int = DEFAULT_YOUNG) -> HeapSettled | None:
    """Collect, freeze what is alive, and collect the young generation every `young` net
    allocations. `young` 0 leaves CPython's defaults and freezes nothing (returns None).

    Called again (a second start hook, or after a fork), it freezes what was made since.
    """
    if young < 0:
        raise ValueError(f"young must be 0 (CPython's defaults) or more, not {young}")
    if young == 0:
        return None
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young, older, oldest)
    return HeapSettled(gc.get_freeze_count(), gc.get_threshold())
