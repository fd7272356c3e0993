"""CarrierPool with a fake session: rebind on loss, backoff, no sockets."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, ClassVar

import pytest

from carriers.pool import CarrierPool, RebindBackoff
from carriers.smpp.types import Endpoint, SubmitPart
from messaging.errors import Unbound

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
        FakeSession.made.append(self)

    def bind(self) -> None:
        if FakeSession.fail_binds:
            FakeSession.fail_binds -= 1
            raise Unbound(0x0D, "refused")
        self.bound = True

    def submit(self, part: SubmitPart) -> Future[str]:
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
