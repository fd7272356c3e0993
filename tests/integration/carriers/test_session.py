"""SmppSession over real TCP against the carrier simulator (and a raw fake SMSC)."""

from __future__ import annotations

import struct
import threading
import time
from concurrent.futures import Future
from typing import TypedDict, Unpack

import pytest

from carriers.receipts import Receipt
from carriers.slot_wait import SlotMissed
from carriers.smpp import codec
from carriers.smpp.session import Ack, MoHandler, ReceiptHandler, SmppSession
from carriers.smpp.types import Endpoint, Mo, SubmitPart
from messaging.errors import InvalidInput, ResponseTimeout, Throttled, Unbound
from messaging.types import ReceiptState
from switchboard.embedded import free_port
from tests.integration.carriers.conftest import (
    WRONG_PASSWORD,
    FakeSmsc,
    SimFactory,
    carrier,
    endpoint,
    wait_until,
)

PART = SubmitPart("Acme", "+447700900123", b"Your code is 123456", 0)


def test_bind_succeeds_and_counts_as_one_bind_at_the_carrier(start_sim: SimFactory) -> None:
    sim = start_sim(carrier())
    session = SmppSession(endpoint(sim.simulator.ports["alpha"]))

    session.bind()

    assert session.bound
    assert sim.stats()["alpha"]["binds"] == 1
    session.close()
    assert not session.bound
    wait_until(lambda: sim.stats()["alpha"]["binds"] == 0)


def test_bad_password_raises_unbound_with_the_carrier_status(start_sim: SimFactory) -> None:
    sim = start_sim(carrier())
    session = SmppSession(endpoint(sim.simulator.ports["alpha"], WRONG_PASSWORD))

    with pytest.raises(Unbound) as caught:
        session.bind()

    assert caught.value.status == 0x0E  # ESME_RINVPASWD
    assert not session.bound


def test_nothing_listening_raises_unbound() -> None:
    session = SmppSession(endpoint(free_port()), response_timeout=1.0)

    with pytest.raises(Unbound, match="connect"):
        session.bind()


def test_submit_on_an_unbound_session_fails_the_future_with_unbound() -> None:
    session = SmppSession(endpoint(free_port()))

    with pytest.raises(Unbound):
        session.submit(PART).result(timeout=1)


def test_500_submits_with_window_10_all_get_distinct_carrier_ids(start_sim: SimFactory) -> None:
    sim = start_sim(carrier(receipts=False))
    with SmppSession(endpoint(sim.simulator.ports["alpha"]), window=10) as session:
        futures = [session.submit(PART) for _ in range(500)]
        ids = [future.result(timeout=10) for future in futures]

        assert len(set(ids)) == 500
        assert all(ids)
        assert session.in_flight == 0
    assert sim.stats()["alpha"]["submits_accepted"] == 500


def test_window_bounds_how_many_submits_are_in_flight(start_sim: SimFactory) -> None:
    # 40 submits, each answered after 50 ms, at most 4 in flight: at least 10 rounds of 50 ms.
    sim = start_sim(carrier(receipts=False, submit_latency_ms=50))
    with SmppSession(endpoint(sim.simulator.ports["alpha"]), window=4) as session:
        started = time.monotonic()
        futures = [session.submit(PART) for _ in range(40)]
        for future in futures:
            future.result(timeout=10)
        elapsed = time.monotonic() - started

    assert elapsed >= 10 * 0.050 * 0.9


def test_throttled_submit_fails_with_throttled(start_sim: SimFactory) -> None:
    sim = start_sim(carrier(mps=1, burst=1, receipts=False))
    with SmppSession(endpoint(sim.simulator.ports["alpha"])) as session:
        first = session.submit(PART)
        second = session.submit(PART)

        assert first.result(timeout=5)
        with pytest.raises(Throttled) as caught:
            second.result(timeout=5)
    assert caught.value.status == 0x58


def test_a_paced_submit_is_written_at_its_slot_or_not_at_all(start_sim: SimFactory) -> None:
    """`not_before`: written then, not earlier (the carrier's burst 1 at 50 MPS takes the
    second 25 ms after the first); `not_after` already past: nothing is written."""
    sim = start_sim(carrier(mps=50, burst=1, receipts=False))
    with SmppSession(endpoint(sim.simulator.ports["alpha"])) as session:
        assert session.submit(PART).result(timeout=5)
        slot = time.monotonic() + 0.025
        second = session.submit(PART, not_before=slot, not_after=slot + 0.01)
        assert time.monotonic() >= slot
        assert second.result(timeout=5)
        with pytest.raises(SlotMissed):
            session.submit(PART, not_before=slot - 1.0, not_after=slot - 0.5)
        wait_until(lambda: sim.stats()["alpha"]["submits_accepted"] == 2)
    assert sim.stats()["alpha"]["throttled"] == 0 and session.stats()["submitted"] == 2


def test_full_queue_status_is_throttled_too(start_sim: SimFactory) -> None:
    sim = start_sim(carrier(mps=1, burst=1, receipts=False, throttle="queue_full"))
    with SmppSession(endpoint(sim.simulator.ports["alpha"])) as session:
        session.submit(PART).result(timeout=5)
        with pytest.raises(Throttled) as caught:
            session.submit(PART).result(timeout=5)
    assert caught.value.status == 0x14


def test_no_response_in_time_fails_with_response_timeout_and_frees_the_slot(
    start_sim: SimFactory,
) -> None:
    sim = start_sim(carrier(receipts=False, submit_latency_ms=500))
    with SmppSession(  # the bind may take longer than 0.15 s on a loaded machine (CI did)
        endpoint(sim.simulator.ports["alpha"]), window=1, response_timeout=0.15, bind_timeout=10
    ) as session:
        late = session.submit(PART)
        with pytest.raises(ResponseTimeout):
            late.result(timeout=5)

        assert session.in_flight == 0
        assert session.bound
        wait_until(lambda: session.stats()["late_responses"] == 1)


def test_connection_loss_fails_every_in_flight_future_with_unbound(
    start_sim: SimFactory,
) -> None:
    sim = start_sim(carrier(receipts=False, submit_latency_ms=5000))
    session = SmppSession(endpoint(sim.simulator.ports["alpha"]), window=5)
    session.bind()
    futures = [session.submit(PART) for _ in range(5)]

    sim.stop()

    for future in futures:
        with pytest.raises(Unbound):
            future.result(timeout=5)
    assert not session.bound
    with pytest.raises(Unbound):
        session.submit(PART).result(timeout=1)
    session.close()


def test_blocked_submitter_wakes_with_unbound_when_the_connection_drops(
    start_sim: SimFactory,
) -> None:
    sim = start_sim(carrier(receipts=False, submit_latency_ms=5000))
    session = SmppSession(endpoint(sim.simulator.ports["alpha"]), window=1)
    session.bind()
    session.submit(PART)
    blocked: list[Future[str]] = []
    submitter = threading.Thread(target=lambda: blocked.append(session.submit(PART)))
    submitter.start()
    wait_until(lambda: submitter.is_alive())

    sim.stop()
    submitter.join(timeout=5)

    assert not submitter.is_alive()
    with pytest.raises(Unbound):
        blocked[0].result(timeout=1)
    session.close()


class Receipts:
    """Collects receipts with their acks; acks only when told to."""

    def __init__(self, ack_now: bool = False) -> None:
        self.ack_now = ack_now
        self.items: list[tuple[Receipt, Ack]] = []
        self._lock = threading.Lock()

    def __call__(self, receipt: Receipt, ack: Ack) -> None:
        with self._lock:
            self.items.append((receipt, ack))
        if self.ack_now:
            ack()

    def ids(self) -> set[str]:
        with self._lock:
            return {receipt.carrier_message_id for receipt, _ in self.items}


def test_receipts_are_acked_only_when_ack_is_called(start_sim: SimFactory) -> None:
    sim = start_sim(carrier(receipt_delay_ms=0))
    receipts = Receipts()
    with SmppSession(endpoint(sim.simulator.ports["alpha"]), on_receipt=receipts) as session:
        ids = {session.submit(PART).result(timeout=5) for _ in range(20)}
        wait_until(lambda: len(receipts.items) == 20)

        assert receipts.ids() == ids
        assert {r.state for r, _ in receipts.items} == {ReceiptState.DELIVERED}
        assert sim.stats()["alpha"]["receipts_acked"] == 0

        for _, ack in receipts.items:
            ack()
        receipts.items[0][1]()  # a second ack sends nothing
        wait_until(lambda: sim.stats()["alpha"]["receipts_acked"] == 20)
        assert session.stats()["acks_sent"] == 20


def test_unacked_receipts_are_resent_after_the_session_closes(start_sim: SimFactory) -> None:
    sim = start_sim(carrier(receipt_delay_ms=0))
    port = sim.simulator.ports["alpha"]
    first = Receipts()
    with SmppSession(endpoint(port), on_receipt=first) as session:
        ids = {session.submit(PART).result(timeout=5) for _ in range(10)}
        wait_until(lambda: len(first.items) == 10)
    assert sim.stats()["alpha"]["receipts_acked"] == 0

    second = Receipts(ack_now=True)
    with SmppSession(endpoint(port), on_receipt=second):
        wait_until(lambda: second.ids() == ids)
        wait_until(lambda: sim.stats()["alpha"]["receipts_acked"] == 10)


def test_without_a_receipt_handler_nothing_is_acked(start_sim: SimFactory) -> None:
    sim = start_sim(carrier(receipt_delay_ms=0))
    with SmppSession(endpoint(sim.simulator.ports["alpha"])) as session:
        session.submit(PART).result(timeout=5)
        wait_until(lambda: session.stats()["receipts"] == 1)
    assert sim.stats()["alpha"]["receipts_acked"] == 0


def test_idle_link_is_probed_with_enquire_link(start_sim: SimFactory) -> None:
    sim = start_sim(carrier())
    with SmppSession(endpoint(sim.simulator.ports["alpha"]), enquire_link_interval=0.05) as session:
        wait_until(lambda: session.stats()["enquire_links_sent"] >= 3)

        assert session.bound


# --- against a raw fake SMSC: what the simulator never sends ---------------------------------


class SessionOptions(TypedDict, total=False):
    """The keyword options of `SmppSession` these tests set."""

    window: int
    response_timeout: float
    bind_timeout: float
    enquire_link_interval: float
    on_receipt: ReceiptHandler
    on_mo: MoHandler


def _bound_to(smsc: FakeSmsc, **options: Unpack[SessionOptions]) -> SmppSession:
    session = SmppSession(Endpoint("fake", "127.0.0.1", smsc.port, "esme", "pw"), **options)
    session.bind()
    return session


def test_unknown_command_is_answered_with_generic_nack_rinvcmdid(fake_smsc: FakeSmsc) -> None:
    session = _bound_to(fake_smsc)

    fake_smsc.send(struct.pack(">IIII", 16, 0x00000099, 0, 4242))

    wait_until(lambda: bool(fake_smsc.received("generic_nack")))
    nack = fake_smsc.received("generic_nack")[0]
    assert (nack.sequence, nack.status) == (4242, codec.ESME_RINVCMDID)
    assert session.bound
    session.close()


def test_carrier_enquire_link_is_answered(fake_smsc: FakeSmsc) -> None:
    session = _bound_to(fake_smsc)

    fake_smsc.send(codec.request("enquire_link", 77))

    wait_until(lambda: bool(fake_smsc.received("enquire_link_resp")))
    assert fake_smsc.received("enquire_link_resp")[0].sequence == 77
    session.close()


def test_mo_message_reaches_on_mo_and_is_acked_by_the_caller(fake_smsc: FakeSmsc) -> None:
    got: list[tuple[Mo, Ack]] = []
    session = _bound_to(fake_smsc, on_mo=lambda mo, ack: got.append((mo, ack)))

    fake_smsc.send(
        codec.encode(
            "deliver_sm",
            9,
            fields={
                "source_addr": "447700900123",
                "destination_addr": "12345",
                "data_coding": 8,
                "short_message": "STOP Ж".encode("utf-16-be"),
            },
        )
    )

    wait_until(lambda: len(got) == 1)
    assert got[0][0] == Mo("447700900123", "12345", "STOP Ж")
    assert fake_smsc.received("deliver_sm_resp") == []
    got[0][1]()
    wait_until(lambda: bool(fake_smsc.received("deliver_sm_resp")))
    assert fake_smsc.received("deliver_sm_resp")[0].sequence == 9
    session.close()


def test_unreadable_receipt_is_refused_for_good(fake_smsc: FakeSmsc) -> None:
    session = _bound_to(fake_smsc, on_receipt=lambda receipt, ack: ack())

    fake_smsc.send(
        codec.encode("deliver_sm", 5, fields={"esm_class": 0x04, "short_message": b"garbage"})
    )

    wait_until(lambda: bool(fake_smsc.received("deliver_sm_resp")))
    assert fake_smsc.received("deliver_sm_resp")[0].status == 0x65  # ESME_RX_P_APPN
    assert session.stats()["receipts_malformed"] == 1
    session.close()


def test_carrier_unbind_is_answered_and_ends_the_session(fake_smsc: FakeSmsc) -> None:
    session = _bound_to(fake_smsc)

    fake_smsc.send(codec.request("unbind", 3))

    wait_until(lambda: not session.bound)
    wait_until(lambda: bool(fake_smsc.received("unbind_resp")))
    assert fake_smsc.received("unbind_resp")[0].sequence == 3
    assert session.lost_reason == "unbound by the carrier"
    session.close()


def test_impossible_command_length_nacks_and_drops_the_link(fake_smsc: FakeSmsc) -> None:
    session = _bound_to(fake_smsc)

    fake_smsc.send(struct.pack(">I", 3) + b"\x00" * 12)

    wait_until(lambda: not session.bound)
    wait_until(lambda: bool(fake_smsc.received("generic_nack")))
    assert fake_smsc.received("generic_nack")[0].status == codec.ESME_RINVCMDLEN
    session.close()


@pytest.mark.parametrize(
    "timeouts",
    [
        {"response_timeout": 0.0},
        {"bind_timeout": 0.0},
        {"bind_timeout": -1.0},
        {"enquire_link_interval": 0.0},
    ],
)
def test_timeouts_that_are_not_positive_are_refused(timeouts: SessionOptions) -> None:
    with pytest.raises(InvalidInput, match="timeouts must be > 0"):
        SmppSession(endpoint(1), **timeouts)


def test_bind_timeout_defaults_to_the_response_timeout() -> None:
    assert SmppSession(endpoint(1), response_timeout=3.0).bind_timeout == 3.0
    assert SmppSession(endpoint(1), response_timeout=3.0, bind_timeout=9.0).bind_timeout == 9.0
