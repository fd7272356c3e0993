"""InboundForwarder: each MO is acknowledged only after the batch holding it is written."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from carriers import Mo
from messaging import ConcatRef
from store import InboundRecord
from workers.handoff import HandOffBackoff
from workers.inbound import InboundForwarder, inbound_record

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_an_mo_record_has_the_sender_in_e164_and_keeps_its_part() -> None:
    record = inbound_record("alpha", Mo("447700900123", "12345", "b", ConcatRef(9, 2, 2)), NOW)

    assert record == InboundRecord("alpha", "+447700900123", "12345", "b", NOW, ConcatRef(9, 2, 2))


def test_mos_are_acked_after_their_batch_is_written_and_not_while_it_fails() -> None:
    written: list[list[InboundRecord]] = []
    acked: list[str] = []
    fail = threading.Event()
    fail.set()
    done = threading.Event()

    def write(batch: list[InboundRecord]) -> int:
        if fail.is_set():
            assert acked == []  # nothing acknowledged before a write succeeded
            fail.clear()
            raise ConnectionError("database down")
        written.append(batch)
        return 0

    forwarder = InboundForwarder(
        write, flush_seconds=0.01, backoff=HandOffBackoff(first=0.01, cap=0.01)
    )
    for text in ("STOP", "hi"):
        record = inbound_record("alpha", Mo("447700900123", "12345", text), NOW)

        def ack(text: str = text) -> None:
            acked.append(text)
            if len(acked) == 2:
                done.set()

        forwarder.add(record, ack)
    assert done.wait(5)
    forwarder.close()

    assert [r.text for batch in written for r in batch] == ["STOP", "hi"]
    assert acked == ["STOP", "hi"] and forwarder.failures == 1 and forwarder.written == 2
