"""Keeps a claimed batch's send lease alive while the batch is in flight.

The process's renewing thread renews the lease every `LeasePolicy.renew_every` seconds, so a
send loop busy on tokens or a recorder slow on a write never lets a live batch's lease lapse;
when the process dies, so does the thread, and the sweeper takes the rows back once the lease
is dead (seconds, not `stuck_sending_after`). A renewal that fails (database down) is logged
once per batch and retried at the next tick; if the lease lapses meanwhile the sweeper may
re-send the rows, and this batch's late outcomes are then dropped by the lease test in
`record_outcomes`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType

from messaging import LeasePolicy
from store import SendLease
from workers.process_redis import PerProcess

log = logging.getLogger(__name__)


def lease_owner() -> str:
    """A token unique to one claimed batch: host, pid and a random part (for operators)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(6)}"


class LeaseKeeper:
    """Renews `lease` on `ids` in the background between `__enter__` and `__exit__`.

    The renewals run on the process's one renewing thread (`_Renewer`), not on a thread of the
    keeper's own: starting and joining a thread per batch cost ~65 µs, and at moderate rates
    batches hold one or a few messages (every OTP is its own). `__exit__` returns once no
    renewal of this keeper is running, as the join of its own thread did.
    """

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

    def renew_now(self) -> None:
        """One renewal (on the renewing thread); a failure is logged once per batch."""
        try:
            self._renew(SendLease(self.owner, self._policy.until(self._clock())), self.ids)
            self.renewals += 1
        except Exception as exc:
            if not self.failures:
                log.warning("could not renew send lease %s: %s", self.owner, exc)
            self.failures += 1

    def __enter__(self) -> LeaseKeeper:
        _RENEWER.get().add(self, self._policy.renew_every)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _RENEWER.get().remove(self)


class _Renewer:
    """The process's renewing thread: every live keeper's lease, each every `renew_every`."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._due: dict[LeaseKeeper, tuple[float, float]] = {}  # keeper → (next at, every)
        self._busy: LeaseKeeper | None = None
        self._thread = threading.Thread(target=self._run, name="send-lease", daemon=True)
        self._thread.start()

    def add(self, keeper: LeaseKeeper, every: float) -> None:
        with self._changed:
            self._due[keeper] = (time.monotonic() + every, every)
            self._changed.notify_all()

    def remove(self, keeper: LeaseKeeper) -> None:
        with self._changed:
            self._due.pop(keeper, None)
            while self._busy is keeper:  # its renewal is running: wait for it to end
                self._changed.wait()

    def _run(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                keeper = next((k for k, (at, _) in self._due.items() if at <= now), None)
                if keeper is None:
                    soonest = min((at for at, _ in self._due.values()), default=None)
                    self._changed.wait(None if soonest is None else soonest - now)
                    continue
                every = self._due[keeper][1]
                self._due[keeper] = (now + every, every)
                self._busy = keeper
            try:
                keeper.renew_now()
            finally:
                with self._changed:
                    self._busy = None
                    self._changed.notify_all()


_RENEWER = PerProcess(_Renewer)  # this process's renewer (a fork leaves the parent's threads)
