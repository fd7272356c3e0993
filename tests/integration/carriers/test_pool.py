"""CarrierPool against the simulator: lazy bind, rebind after loss, backoff between failures."""

from __future__ import annotations

import threading

import pytest

from carriers.pool import CarrierPool, RebindBackoff
from carriers.receipts import Receipt
from carriers.smpp.session import Ack
from carriers.smpp.types import SubmitPart
from messaging.errors import CarrierRemoved, Unbound
from switchboard.embedded import free_port
from tests.integration.carriers.conftest import (
    WRONG_PASSWORD,
    SimFactory,
    carrier,
    endpoint,
    wait_until,
)

PART = SubmitPart("Acme", "447700900123", b"hello", 0)


def test_session_binds_lazily_and_is_reused(start_sim: SimFactory) -> None:
    sim = start_sim(carrier(receipts=False))
    pool = CarrierPool({"alpha": endpoint(sim.simulator.ports["alpha"])}, window=5)

    assert sim.stats()["alpha"]["binds"] == 0
    first = pool.session("alpha")
    second = pool.session("alpha")

    assert first is second
    assert first.submit(PART).result(timeout=5)
    assert sim.stats()["alpha"]["binds"] == 1
    pool.close()
    assert pool.bound() == {"alpha": False}
    with pytest.raises(Unbound):
        pool.session("alpha")


def test_concurrent_callers_share_one_bind(start_sim: SimFactory) -> None:
    sim = start_sim(carrier(receipts=False))
    pool = CarrierPool({"alpha": endpoint(sim.simulator.ports["alpha"])})
    sessions = []
    threads = [
        threading.Thread(target=lambda: sessions.append(pool.session("alpha"))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)

    assert len({id(s) for s in sessions}) == 1
    assert sim.stats()["alpha"]["binds"] == 1
    pool.close()


def test_unknown_carrier_is_carrier_removed_a_transient_error_the_sender_fails_over_on() -> None:
    with pytest.raises(CarrierRemoved):
        CarrierPool({}).session("nope")


def test_lost_session_fails_in_flight_with_unbound_and_the_pool_rebinds(
    start_sim: SimFactory,
) -> None:
    port = free_port()
    first_sim = start_sim(carrier(port=port, receipts=False, submit_latency_ms=5000))
    pool = CarrierPool({"alpha": endpoint(port)}, backoff=RebindBackoff(first=0.05, cap=0.05))
    lost = pool.session("alpha")
    in_flight = [lost.submit(PART) for _ in range(3)]

    first_sim.stop()

    for future in in_flight:
        with pytest.raises(Unbound):
            future.result(timeout=5)
    with pytest.raises(Unbound):
        pool.session("alpha")  # nothing listens: the rebind fails
    start_sim(carrier(port=port, receipts=False))
    wait_until(lambda: _binds(pool))
    fresh = pool.session("alpha")

    assert fresh is not lost
    assert fresh.submit(PART).result(timeout=5)
    pool.close()


def _binds(pool: CarrierPool) -> bool:
    try:
        pool.session("alpha")
    except Unbound:
        return False
    return True


def test_failed_bind_backs_off_before_trying_again(start_sim: SimFactory) -> None:
    sim = start_sim(carrier())
    now = [100.0]
    pool = CarrierPool(
        {"alpha": endpoint(sim.simulator.ports["alpha"], WRONG_PASSWORD)},
        backoff=RebindBackoff(first=2.0, cap=10.0),
        clock=lambda: now[0],
    )

    with pytest.raises(Unbound) as refused:
        pool.session("alpha")
    with pytest.raises(Unbound, match="rebind in") as waiting:
        pool.session("alpha")

    assert refused.value.status == waiting.value.status == 0x0E
    assert sim.stats()["alpha"]["errors"] == 1  # the second call never reached the carrier
    now[0] += 2.0
    with pytest.raises(Unbound):
        pool.session("alpha")
    assert sim.stats()["alpha"]["errors"] == 2


def test_receipts_carry_the_carrier_name(start_sim: SimFactory) -> None:
    sim = start_sim(carrier(receipt_delay_ms=0))
    got: list[tuple[str, Receipt]] = []

    def on_receipt(name: str, receipt: Receipt, ack: Ack) -> None:
        got.append((name, receipt))
        ack()

    pool = CarrierPool({"alpha": endpoint(sim.simulator.ports["alpha"])}, on_receipt=on_receipt)
    message_id = pool.session("alpha").submit(PART).result(timeout=5)

    wait_until(lambda: len(got) == 1)
    assert got[0][0] == "alpha"
    assert got[0][1].carrier_message_id == message_id
    pool.close()
