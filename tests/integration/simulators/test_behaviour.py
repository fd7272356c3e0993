"""Issue-4 behaviours over real TCP: prefix rules, duplicate receipts, receipt id formats."""

from __future__ import annotations

from collections.abc import Callable

from simulators import SimulatorThread
from simulators.pdu import Cmd, MessageIdResp, ShortMessage, Tag
from simulators.scenario import PrefixRule
from tests.integration.simulators.conftest import carrier, eventually
from tests.integration.simulators.smpp_client import RawClient

Start = Callable[..., SimulatorThread]
ESME_RINVDSTADR = 0x0B


def test_prefix_rule_rejects_submits_to_its_destinations(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha", prefixes=[PrefixRule(prefix="+4479", submit_status=0x0B)]))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        client.submit("447911123456", registered_delivery=0)
        client.submit("447700900123", registered_delivery=0)
        assert [client.read().status, client.read().status] == [ESME_RINVDSTADR, 0]
    stats = sim.stats()["alpha"]
    assert (stats["errors"], stats["submits_accepted"]) == (1, 1)


def test_duplicate_receipts_are_both_delivered_and_acked(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha", duplicate_receipt_share=1.0))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        client.submit()
        resp = client.read()
        receipts = [client.read(), client.read()]
        for receipt in receipts:
            client.ack(receipt)
        eventually(lambda: sim.stats()["alpha"]["receipts_acked"] == 2)
    assert isinstance(resp.body, MessageIdResp)
    quoted = set()
    for receipt in receipts:
        assert receipt.command_id == Cmd.DELIVER_SM
        assert isinstance(receipt.body, ShortMessage)
        quoted.add(receipt.body.tlvs[Tag.RECEIPTED_MESSAGE_ID])
    assert quoted == {resp.body.message_id.encode() + b"\0"}


def test_receipt_quotes_a_hex_id_in_decimal_when_configured(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha", message_id_format="hex_upper", receipt_id_format="decimal"))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        client.submit()
        resp = client.read()
        receipt = client.read()
        client.ack(receipt)
    assert isinstance(resp.body, MessageIdResp)
    assert resp.body.message_id == resp.body.message_id.upper()
    assert isinstance(receipt.body, ShortMessage)
    decimal = str(int(resp.body.message_id, 16))
    assert receipt.body.short_message.startswith(f"id:{decimal} ".encode())
    assert receipt.body.tlvs[Tag.RECEIPTED_MESSAGE_ID] == decimal.encode() + b"\0"


def test_the_same_message_submitted_twice_counts_as_a_duplicate(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        client.submit("447911123456", b"code 1234", registered_delivery=0)
        client.submit("447911123456", b"code 5678", registered_delivery=0)
        client.submit("447911123456", b"code 1234", registered_delivery=0)
        assert [client.read().status for _ in range(3)] == [0, 0, 0]
    stats = sim.stats()["alpha"]
    assert (stats["submits_accepted"], stats["duplicates_seen"]) == (3, 1)
