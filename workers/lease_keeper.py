"""Keeps a claimed batch's send lease alive while the batch is in flight.

A thread of its own renews the lease every `LeasePolicy.renew_every` seconds, so a send loop
busy on tokens or a recorder slow on a write never lets a live batch's lease lapse; when the
process dies, so does the thread, and the sweeper takes the rows back once the lease is dead
(seconds, not `stuck_sending_after`). A renewal that fails (database down) is logged once per
batch and retried at the next tick; if the lease lapses meanwhile the sweeper may re-send the
rows, and this batch's late outcomes are then dropped by the lease test in `record_outcomes`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType

from messaging import LeasePolicy
from store import SendLease

log = logging.getLogger(__name__)


def lease_owner() -> str:
    """A token unique to one claimed batch: host, pid and a random part (for operators)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(6)}"


class LeaseKeeper:
    """Renews `lease` on `ids` in the background between `__enter__` and `__exit__`."""

    def __init__(
        self,
        renew: Callable[[SendLease, Sequence[str]], int],
        owner: str,
        ids: Sequence[str],
        policy: LeasePolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self.owner = owner
        self.ids = list(ids)
        self.renewals = 0
        self.failures = 0
        self._renew = renew
        self._policy = policy
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="send-lease", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._policy.renew_every):
            try:
                self._renew(SendLease(self.owner, self._policy.until(self._clock())), self.ids)
                self.renewals += 1
            except Exception as exc:
                if not self.failures:
                    log.warning("could not renew send lease %s: %s", self.owner, exc)
                self.failures += 1

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
