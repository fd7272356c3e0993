"""One contract, two sessions: SmppSession against the simulator, and the MemorySession twin."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from carriers.memory import MemorySession
from carriers.pool import CarrierSession
from carriers.receipts import Receipt
from carriers.smpp.session import Ack, ReceiptHandler, SmppSession
from carriers.smpp.types import SubmitPart
from messaging.errors import Unbound
from tests.integration.carriers.conftest import SimFactory, carrier, endpoint, wait_until

PART = SubmitPart("Acme", "447700900123", b"hello", 0)


@dataclass
class Harness:
    """Makes a session of one kind; `deliver` lets queued receipts through (memory only)."""

    make: Callable[[ReceiptHandler | None], CarrierSession]
    deliver: Callable[[CarrierSession], None]


def acks(session: CarrierSession) -> int:
    """deliver_sm_resp sent so far, as each kind of session counts them."""
    if isinstance(session, MemorySession):
        return len(session.acked)
    assert isinstance(session, SmppSession)
    return session.stats()["acks_sent"]


def _deliver_memory(session: CarrierSession) -> None:
    assert isinstance(session, MemorySession)
    session.deliver_receipts()


@pytest.fixture(params=["memory", "smpp"])
def harness(request: pytest.FixtureRequest, start_sim: SimFactory) -> Iterator[Harness]:
    """Both kinds of session, same tests."""
    made: list[CarrierSession] = []
    if request.param == "memory":

        def make(on_receipt: ReceiptHandler | None) -> CarrierSession:
            session = MemorySession(endpoint(0), on_receipt=on_receipt)
            made.append(session)
            return session

        yield Harness(make, _deliver_memory)
    else:
        port = start_sim(carrier(receipt_delay_ms=0)).simulator.ports["alpha"]

        def make(on_receipt: ReceiptHandler | None) -> CarrierSession:
            session = SmppSession(endpoint(port), on_receipt=on_receipt)
            made.append(session)
            return session

        yield Harness(make, lambda session: None)
    for session in made:
        session.close()


def test_bound_session_answers_with_distinct_ids(harness: Harness) -> None:
    session = harness.make(None)
    session.bind()

    ids = [session.submit(PART).result(timeout=5) for _ in range(5)]

    assert session.bound
    assert len(set(ids)) == 5
    assert all(ids)


def test_unbound_session_fails_with_unbound(harness: Harness) -> None:
    session = harness.make(None)

    with pytest.raises(Unbound):
        session.submit(PART).result(timeout=5)


def test_closed_session_fails_with_unbound(harness: Harness) -> None:
    session = harness.make(None)
    session.bind()
    session.close()

    assert not session.bound
    with pytest.raises(Unbound):
        session.submit(PART).result(timeout=5)


def test_receipt_names_the_submit_and_acks_once(harness: Harness) -> None:
    got: list[tuple[Receipt, Ack]] = []
    lock = threading.Lock()

    def on_receipt(receipt: Receipt, ack: Ack) -> None:
        with lock:
            got.append((receipt, ack))

    session = harness.make(on_receipt)
    session.bind()
    message_id = session.submit(PART).result(timeout=5)
    harness.deliver(session)

    wait_until(lambda: len(got) == 1)
    receipt, ack = got[0]
    assert receipt.carrier_message_id == message_id
    ack()
    ack()
    wait_until(lambda: acks(session) == 1)
    assert acks(session) == 1  # the second ack sent nothing
