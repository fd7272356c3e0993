"""CarrierPool with a fake session: rebind on loss, backoff, no sockets."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any, ClassVar

import pytest

from carriers.pool import CarrierLink, CarrierPool, RebindBackoff, Reconciled
from carriers.smpp.types import Endpoint, SubmitPart
from messaging.errors import CarrierRemoved, Unbound
from ratelimit import MemoryBindLeases

ALPHA = Endpoint("alpha", "127.0.0.1", 2775, "alpha", "pw")


class FakeSession:
    """Binds when `fail_binds` says so; `bound` can be dropped by the test."""

    fail_binds = 0
    made: ClassVar[list[FakeSession]] = []

    def __init__(self, endpoint: Endpoint, **options: Any) -> None:
        self.endpoint = endpoint
        self.options = options
        self.bound = False
        self.closed = False
        self.in_flight = 0
        FakeSession.made.append(self)

    def bind(self) -> None:
        if FakeSession.fail_binds:
            FakeSession.fail_binds -= 1
            raise Unbound(0x0D, "refused")
        self.bound = True

    written_at = float("inf")

    def submit(
        self, part: SubmitPart, not_before: float | None = None, not_after: float | None = None
    ) -> Future[str]:
        raise NotImplementedError

    def close(self) -> None:
        self.bound = False
        self.closed = True


@pytest.fixture(autouse=True)
def _reset() -> None:
    FakeSession.fail_binds = 0
    FakeSession.made = []


def _pool(now: list[float]) -> CarrierPool:
    return CarrierPool(
        {"alpha": ALPHA},
        backoff=RebindBackoff(1.0, 4.0),
        clock=lambda: now[0],
        session_factory=FakeSession,
    )


def test_lost_session_is_closed_and_replaced() -> None:
    pool = _pool([0.0])
    first = pool.session("alpha")
    FakeSession.made[0].bound = False  # the fake's connection drops

    second = pool.session("alpha")

    assert second is not first
    assert FakeSession.made[0].closed
    assert second.bound


def test_backoff_grows_after_each_failed_bind_and_resets_on_success() -> None:
    now = [0.0]
    pool = _pool(now)
    FakeSession.fail_binds = 2

    with pytest.raises(Unbound):
        pool.session("alpha")  # fails: wait 1 s
    now[0] = 0.9
    with pytest.raises(Unbound, match="rebind in"):
        pool.session("alpha")
    now[0] = 1.0
    with pytest.raises(Unbound):
        pool.session("alpha")  # fails again: wait 2 s
    now[0] = 2.9
    with pytest.raises(Unbound, match="rebind in"):
        pool.session("alpha")
    now[0] = 3.0

    assert pool.session("alpha").bound
    assert len(FakeSession.made) == 3  # the waits never tried to connect


def test_session_options_and_callbacks_are_passed_through() -> None:
    calls: list[str] = []
    pool = CarrierPool(
        {"alpha": ALPHA},
        window=7,
        response_timeout=2.5,
        on_receipt=lambda name, receipt, ack: calls.append(name),
        session_factory=FakeSession,
    )

    pool.session("alpha")
    options = FakeSession.made[0].options

    assert (options["window"], options["response_timeout"]) == (7, 2.5)
    options["on_receipt"](None, None)
    assert calls == ["alpha"]
    assert options["on_mo"] is None


def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = RebindBackoff(first=0.5, cap=3.0)

    assert [backoff.after(n) for n in range(5)] == [0.0, 0.5, 1.0, 2.0, 3.0]


def test_jitter_spreads_the_wait_by_up_to_its_share() -> None:
    backoff = RebindBackoff(first=1.0, cap=8.0, jitter=0.5)

    assert [backoff.after(3, draw) for draw in (0.0, 0.5, 0.999)] == [4.0, 5.0, 4.0 * 1.4995]


BETA = Endpoint("beta", "127.0.0.1", 2776, "beta", "pw")


def _fake_pool(**options: Any) -> CarrierPool:
    return CarrierPool({"alpha": ALPHA}, session_factory=FakeSession, **options)


def test_an_unknown_carrier_is_carrier_removed_not_a_key_error() -> None:
    with pytest.raises(CarrierRemoved, match="nope: not a configured carrier"):
        _fake_pool().session("nope")


def test_reconcile_adds_a_carrier_bound_on_first_use() -> None:
    pool = _fake_pool()
    result = pool.reconcile({"alpha": ALPHA, "beta": BETA})

    assert (result.added, result.removed, result.changed) == (("beta",), (), ())
    assert pool.session("beta").bound
    assert FakeSession.made[0].endpoint == BETA


def test_reconcile_drains_a_removed_carrier_then_unbinds_it() -> None:
    pool = _fake_pool(drain_timeout=5.0)
    old = pool.session("alpha")
    fake = FakeSession.made[0]
    fake.in_flight = 2  # two submit_sm not answered yet

    assert pool.reconcile({}).removed == ("alpha",)
    with pytest.raises(CarrierRemoved):
        pool.session("alpha")
    assert old.bound and not fake.closed  # still draining: the answers may come
    fake.in_flight = 0
    pool.close()

    assert fake.closed and pool.drained == 1


def test_reconcile_replaces_a_changed_carrier_after_draining_the_old_session() -> None:
    pool = _fake_pool(drain_timeout=5.0)
    pool.session("alpha")
    moved = Endpoint("alpha", "127.0.0.1", 2999, "alpha", "pw")

    result = pool.reconcile({"alpha": CarrierLink(moved, window=3)})
    fresh = pool.session("alpha")
    pool.close()

    assert result.changed == ("alpha",)
    old, new = FakeSession.made
    assert old.closed and new is fresh
    assert (new.endpoint, new.options["window"]) == (moved, 3)


def test_each_carrier_gets_its_own_window_and_enquire_link_interval() -> None:
    pool = CarrierPool(
        {
            "alpha": CarrierLink(ALPHA, window=4),
            "beta": CarrierLink(BETA, window=40, enquire_link_interval=5.0),
        },
        session_factory=FakeSession,
        enquire_link_interval=30.0,
    )
    pool.session("alpha")
    pool.session("beta")

    assert [
        (s.options["window"], s.options["enquire_link_interval"]) for s in FakeSession.made
    ] == [
        (4, 30.0),
        (40, 5.0),
    ]


def test_a_reconcile_with_the_same_links_changes_nothing() -> None:
    pool = _fake_pool()
    first = pool.session("alpha")

    assert pool.reconcile({"alpha": CarrierLink(ALPHA, window=10)}) == Reconciled()
    assert pool.session("alpha") is first and first.bound


def _leased_pool(leases: MemoryBindLeases, now: list[float]) -> CarrierPool:
    """A pool whose alpha may hold one bind cluster-wide; binds retried 1 s after a refusal."""
    return CarrierPool(
        {"alpha": CarrierLink(ALPHA, binds=1)},
        session_factory=FakeSession,
        leases=leases,
        clock=lambda: now[0],
        backoff=RebindBackoff(1.0, 1.0),
    )


def test_no_lease_no_bind_and_the_lease_is_given_back_on_close() -> None:
    now = [0.0]
    leases = MemoryBindLeases(lambda: now[0])
    taken = leases.acquire("alpha", 1, 60)  # another process holds the only bind
    pool = _leased_pool(leases, now)

    with pytest.raises(Unbound, match="no bind lease"):
        pool.session("alpha")
    assert FakeSession.made == [] and pool.lease_refusals == 1
    assert taken is not None
    leases.release(taken)
    now[0] = 1.0
    assert pool.session("alpha").bound
    assert leases.held("alpha") == 1
    pool.close()
    assert leases.held("alpha") == 0


def test_a_dead_holders_lease_expires_and_frees_the_bind() -> None:
    now = [0.0]
    leases = MemoryBindLeases(lambda: now[0])
    assert leases.acquire("alpha", 1, 15) is not None  # a process that then died
    pool = _leased_pool(leases, now)
    with pytest.raises(Unbound):
        pool.session("alpha")
    now[0] = 16.0

    assert pool.session("alpha").bound
    pool.close()


def test_a_failed_bind_gives_its_lease_back() -> None:
    leases = MemoryBindLeases(lambda: 0.0)
    pool = CarrierPool(
        {"alpha": CarrierLink(ALPHA, binds=2)}, session_factory=FakeSession, leases=leases
    )
    FakeSession.fail_binds = 1

    with pytest.raises(Unbound):
        pool.session("alpha")
    assert leases.held("alpha") == 0


def test_drain_waits_for_the_window_to_empty_then_close_unbinds() -> None:
    now = [0.0]
    pool = _fake_pool(clock=lambda: now[0], receipt_linger=0.0)
    pool.session("alpha")
    fake = FakeSession.made[0]
    fake.in_flight = 1

    def answered_later() -> None:
        fake.in_flight = 0

    timer = threading.Timer(0.05, answered_later)
    timer.start()
    busy = pool.drain(60.0)  # the fake clock never reaches the deadline: only the answer ends it
    timer.join()

    assert busy == 0 and fake.bound  # drained, still bound: receipts can still be acked
    pool.close()
    assert fake.closed


def test_drain_gives_up_at_its_deadline() -> None:
    ticks = iter(range(1000))  # each look at the clock is a second later
    pool = _fake_pool(clock=lambda: float(next(ticks)), receipt_linger=0.0)
    pool.session("alpha")
    FakeSession.made[0].in_flight = 3

    assert pool.drain(5.0) == 1
    assert next(ticks) < 10
