"""Issue-4 behaviours over real TCP, as a client sees them: queueing throttle, receipts that
race ahead, per-segment receipts, faults on a timeline, the SMSC's enquire_link, backpressure."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest

from simulators import SimulatorThread
from simulators.faults import Mode
from simulators.pdu import Cmd, CommandStatus, MessageIdResp, Pdu, ShortMessage, Tag, encode
from simulators.scenario import Outage
from tests.integration.simulators.conftest import carrier, eventually
from tests.integration.simulators.smpp_client import RawClient

Start = Callable[..., SimulatorThread]


def _receipt_id(pdu: Pdu) -> str:
    assert pdu.command_id == Cmd.DELIVER_SM
    assert isinstance(pdu.body, ShortMessage)
    return pdu.body.tlvs[Tag.RECEIPTED_MESSAGE_ID].rstrip(b"\0").decode()


def _resp_id(pdu: Pdu) -> str:
    assert pdu.command_id == Cmd.SUBMIT_SM_RESP
    assert isinstance(pdu.body, MessageIdResp)
    return pdu.body.message_id


def test_queue_mode_answers_every_submit_ok_but_no_faster_than_the_limit(start_sim: Start) -> None:
    mps, sent = 50, 80
    sim = start_sim(carrier("alpha", mps=mps, burst=1, throttle="queue", receipts=False))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        # One write for all of them: written one by one, a busy host can space two submits
        # more than 1/mps apart, and the later one then finds a token (is not queued).
        pdus = [
            Pdu(
                Cmd.SUBMIT_SM,
                client.next_sequence(),
                body=ShortMessage("Switchboard", "447700900123", b"hello", registered_delivery=0),
            )
            for _ in range(sent)
        ]
        client.send_raw(b"".join(encode(pdu) for pdu in pdus))
        started = time.monotonic()
        arrived = []
        for _ in range(sent):
            assert client.read().status == CommandStatus.ESME_ROK
            arrived.append(time.monotonic())
    # Paced at 1/mps from the first: the last answer comes (sent - 1) / mps seconds later.
    assert arrived[-1] - started >= 0.9 * (sent - 1) / mps
    stats = sim.stats()["alpha"]
    assert (stats["submits_accepted"], stats["throttled"]) == (sent, 0)
    assert stats["queued"] == sent - 1  # burst 1: only the first is answered at once
    assert stats["max_mps_1s"] <= mps


def test_a_receipt_that_races_ahead_arrives_before_its_submit_sm_resp(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha", receipt_race_share=1.0))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        client.submit()
        first, second = client.read(), client.read()
        client.ack(first)
        eventually(lambda: sim.stats()["alpha"]["receipts_acked"] == 1)
    assert _receipt_id(first) == _resp_id(second)
    assert sim.stats()["alpha"]["receipts_raced"] == 1


def _three_parts(client: RawClient, reference: int = 0x42) -> None:
    for sequence in (1, 2, 3):
        # 3GPP TS 23.040 §9.2.3.24.1: UDHL 5, IEI 0 (8-bit reference), length 3.
        udh = bytes((5, 0x00, 3, reference, 3, sequence))
        client.submit(text=udh + b"part %d" % sequence, esm_class=0x40)


@pytest.mark.parametrize(("policy", "wanted"), [("first", 0), ("last", 2)])
def test_only_the_chosen_segment_of_a_concatenated_message_gets_a_receipt(
    start_sim: Start, policy: str, wanted: int
) -> None:
    sim = start_sim(carrier("alpha", segment_receipts=policy))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        _three_parts(client)
        pdus = [client.read() for _ in range(4)]  # three resps and one receipt, in any order
        client.submit(text=b"single", registered_delivery=1)  # an unsegmented one still gets one
        resp_ids = [_resp_id(p) for p in pdus if p.command_id == Cmd.SUBMIT_SM_RESP]
        receipts = [_receipt_id(p) for p in pdus if p.command_id == Cmd.DELIVER_SM]
        single = [client.read(), client.read()]
        for pdu in (*pdus, *single):
            if pdu.command_id == Cmd.DELIVER_SM:
                client.ack(pdu)
        eventually(lambda: sim.stats()["alpha"]["receipts_acked"] == 2)
    assert receipts == [resp_ids[wanted]]
    assert sorted(p.command_id for p in single) == sorted([Cmd.SUBMIT_SM_RESP, Cmd.DELIVER_SM])


def test_each_segment_gets_its_receipt_by_default(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        _three_parts(client)
        pdus = [client.read() for _ in range(6)]
        for pdu in pdus:
            if pdu.command_id == Cmd.DELIVER_SM:
                client.ack(pdu)
    resp_ids = {_resp_id(p) for p in pdus if p.command_id == Cmd.SUBMIT_SM_RESP}
    assert {_receipt_id(p) for p in pdus if p.command_id == Cmd.DELIVER_SM} == resp_ids


def test_periodic_bind_loss_drops_the_link_and_allows_a_new_bind(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha", bind_loss_every_s=0.3))
    port = sim.simulator.ports["alpha"]
    for _ in range(2):  # it keeps happening
        with RawClient(port) as client:
            assert client.bind("alpha", "alphapw").status == CommandStatus.ESME_ROK
            assert client.closed_by_peer()
    assert sim.stats()["alpha"]["binds_dropped"] >= 2


def test_syserr_bursts_repeat_on_their_timeline(start_sim: Start) -> None:
    burst = Outage(after_s=0.1, for_s=0.15, every_s=0.3, mode=Mode.SYSERR)
    sim = start_sim(carrier("alpha", outages=[burst]))
    statuses: list[int] = []
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        deadline = time.monotonic() + 1.2
        while time.monotonic() < deadline:
            client.submit(registered_delivery=0)
            statuses.append(client.read().status)
            time.sleep(0.01)
    changes = [b for a, b in itertools.pairwise(statuses) if a != b]
    # ok → syserr → ok → syserr …: at least two bursts seen, each one ending
    assert changes.count(CommandStatus.ESME_RSYSERR) >= 2
    assert changes.count(CommandStatus.ESME_ROK) >= 2
    assert set(statuses) == {CommandStatus.ESME_ROK, CommandStatus.ESME_RSYSERR}


def _round_trip(client: RawClient) -> float:
    started = time.monotonic()
    client.submit(registered_delivery=0)
    assert client.read().status == CommandStatus.ESME_ROK
    return time.monotonic() - started


def test_a_slow_window_multiplies_the_submit_latency(start_sim: Start) -> None:
    slow = Outage(after_s=0, for_s=600, mode=Mode.SLOW, latency_factor=3)
    sim = start_sim(carrier("alpha", submit_latency_ms=80, outages=[slow]))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        eventually(lambda: sim.call(lambda s: s.carriers["alpha"].mode) is Mode.SLOW)
        assert _round_trip(client) >= 0.24
        sim.call(lambda s: s.set_mode("alpha", Mode.NORMAL))
        assert 0.08 <= _round_trip(client) < 0.2


def test_the_smsc_sends_enquire_link_and_counts_the_unanswered(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha", enquire_link_s=0.1))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        ignored = client.read()
        answered = client.read()  # sending this one counts the first as unanswered
        client.send_raw(encode(Pdu(Cmd.ENQUIRE_LINK_RESP, answered.sequence)))
        after = client.read()
    assert [p.command_id for p in (ignored, answered, after)] == [Cmd.ENQUIRE_LINK] * 3
    assert len({ignored.sequence, answered.sequence, after.sequence}) == 3
    stats = sim.stats()["alpha"]
    assert stats["enquire_links_sent"] >= 3
    assert stats["enquire_links_unanswered"] == 1


def test_a_client_that_stops_reading_pauses_the_session_not_the_server(start_sim: Start) -> None:
    sent = 5_000
    sim = start_sim(
        carrier("alpha", mps=10_000_000, receipts=False, write_high_water=1024), carrier("beta")
    )
    submits = b"".join(
        encode(
            Pdu(
                Cmd.SUBMIT_SM,
                n + 2,
                body=ShortMessage("Switchboard", "447700900123", b"hello"),
            )
        )
        for n in range(sent)
    )
    with RawClient(sim.simulator.ports["alpha"], timeout=20, receive_buffer=4096) as client:
        client.bind("alpha", "alphapw")
        writer = threading.Thread(target=client.send_raw, args=(submits,), daemon=True)
        writer.start()
        eventually(lambda: sim.stats()["alpha"]["write_pauses"] >= 1)
        stalled = sim.stats()["alpha"]["submits_accepted"]
        time.sleep(0.2)
        assert sim.stats()["alpha"]["submits_accepted"] == stalled < sent  # not reading on
        with RawClient(sim.simulator.ports["beta"]) as other:  # other sessions are served
            assert other.bind("beta", "betapw").status == CommandStatus.ESME_ROK
        answers = [client.read() for _ in range(sent)]  # reading again resumes the session
        writer.join(10)
    assert all(a.status == CommandStatus.ESME_ROK for a in answers)
    assert sim.stats()["alpha"]["submits_accepted"] == sent


@pytest.mark.parametrize(
    ("fields", "stat", "state"),
    [
        ({"expired_share": 1.0}, b"stat:EXPIRED err:000", 3),
        ({"rejected_share": 1.0}, b"stat:REJECTD err:000", 8),
        ({"unknown_share": 1.0}, b"stat:UNKNOWN err:000", 7),
        ({"undelivered_share": 1.0, "undelivered_errors": [34]}, b"stat:UNDELIV err:034", 5),
    ],
)
def test_outcome_mix_reaches_the_client_as_receipt_state_and_text(
    start_sim: Start, fields: dict[str, object], stat: bytes, state: int
) -> None:
    sim = start_sim(carrier("alpha", **fields))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        client.submit()
        client.read()
        receipt = client.read()
        client.ack(receipt)
    assert isinstance(receipt.body, ShortMessage)
    assert stat in receipt.body.short_message
    assert receipt.body.tlvs[Tag.MESSAGE_STATE] == bytes((state,))


def test_no_receipt_share_accepts_and_never_sends_a_receipt(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha", no_receipt_share=1.0))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        client.submit()
        assert client.read().status == CommandStatus.ESME_ROK
        time.sleep(0.05)  # a receipt (delay 0) would be due by now; the next PDU is the echo
        assert client.enquire_link().command_id == Cmd.ENQUIRE_LINK_RESP
    stats = sim.stats()["alpha"]
    assert (stats["receipts_withheld"], stats["receipts_sent"]) == (1, 0)
