"""LeaseKeeper: live batches' leases renewed on the process's one renewing thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from messaging import LeasePolicy
from store import SendLease
from workers.lease_keeper import LeaseKeeper

NOW = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
FAST = LeasePolicy(lease_seconds=0.15)  # a renewal every 50 ms


def _wait_until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30  # returns as soon as it holds; generous for a loaded host
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError("not within 30 s")


def test_two_live_batches_are_renewed_on_one_thread_and_neither_after_it_ends() -> None:
    renewed: list[tuple[str, tuple[str, ...], threading.Thread]] = []

    def renew(lease: SendLease, ids: Sequence[str]) -> int:
        renewed.append((lease.owner, tuple(ids), threading.current_thread()))
        return len(ids)

    first = LeaseKeeper(renew, "one", ["a"], FAST, lambda: NOW)
    second = LeaseKeeper(renew, "two", ["b", "c"], FAST, lambda: NOW)
    with first, second:
        _wait_until(lambda: first.renewals >= 2 and second.renewals >= 2)
    done = (first.renewals, second.renewals)
    time.sleep(0.2)  # four renewal periods: an ended keeper is renewed no more
    assert (first.renewals, second.renewals) == done
    assert {(owner, ids) for owner, ids, _ in renewed} == {("one", ("a",)), ("two", ("b", "c"))}
    threads = {thread for _, _, thread in renewed}
    assert len(threads) == 1 and threading.current_thread() not in threads


def test_leaving_waits_for_a_renewal_in_flight_and_a_failure_is_counted() -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def renew(lease: SendLease, ids: Sequence[str]) -> int:
        calls.append(1)
        if len(calls) == 1:
            started.set()
            assert release.wait(30)
            raise OSError("database went away")
        return 1

    keeper = LeaseKeeper(renew, "slow", ["a"], FAST, lambda: NOW)
    keeper.__enter__()
    assert started.wait(30)
    left = threading.Event()

    def leave() -> None:
        keeper.__exit__(None, None, None)
        left.set()

    threading.Thread(target=leave, daemon=True).start()
    assert not left.wait(0.2)  # the renewal is still running: leaving waits for it
    release.set()
    assert left.wait(30)
    assert (keeper.renewals, keeper.failures, len(calls)) == (0, 1, 1)
