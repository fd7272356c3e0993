"""Binds, submits, receipts and bad input over real TCP to a running simulator."""

from __future__ import annotations

import json
import socket
import struct
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from simulators import Scenario, SimulatorThread
from simulators.pdu import HEADER, Cmd, CommandStatus, MessageIdResp, ShortMessage, Tag, header_only
from tests.integration.simulators.conftest import carrier, eventually
from tests.integration.simulators.smpp_client import RawClient

Start = Callable[..., SimulatorThread]


def test_bind_with_the_right_credentials_is_accepted(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        resp = client.bind("alpha", "alphapw")
        assert (resp.command_id, resp.status) == (Cmd.BIND_TRANSCEIVER_RESP, CommandStatus.ESME_ROK)
        eventually(lambda: sim.stats()["alpha"]["binds"] == 1)
    eventually(lambda: sim.stats()["alpha"]["binds"] == 0)


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [
        ("alpha", "wrong", CommandStatus.ESME_RINVPASWD),
        ("nobody", "alphapw", CommandStatus.ESME_RINVSYSID),
    ],
)
def test_bind_with_bad_credentials_is_refused(
    start_sim: Start, system_id: str, password: str, status: int
) -> None:
    sim = start_sim(carrier("alpha"))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        resp = client.bind(system_id, password, Cmd.BIND_TRANSMITTER)
        assert (resp.command_id, resp.status) == (Cmd.BIND_TRANSMITTER_RESP, status)
        # still OPEN: a submit is out of state, a correct bind still works
        client.submit()
        assert client.read().status == CommandStatus.ESME_RINVBNDSTS
        assert client.bind("alpha", "alphapw").status == CommandStatus.ESME_ROK
    assert sim.stats()["alpha"]["errors"] == 2


def test_binds_beyond_max_binds_fail_and_second_bind_is_already_bound(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha", max_binds=1))
    port = sim.simulator.ports["alpha"]
    with RawClient(port) as first, RawClient(port) as second:
        assert first.bind("alpha", "alphapw").status == CommandStatus.ESME_ROK
        assert first.bind("alpha", "alphapw").status == CommandStatus.ESME_RALYBND
        assert second.bind("alpha", "alphapw").status == CommandStatus.ESME_RBINDFAIL


def test_receiver_bind_may_not_submit(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw", Cmd.BIND_RECEIVER)
        client.submit()
        resp = client.read()
        assert (resp.command_id, resp.status) == (Cmd.SUBMIT_SM_RESP, CommandStatus.ESME_RINVBNDSTS)


@pytest.mark.parametrize(("fmt", "base"), [("hex", 16), ("decimal", 10)])
def test_submit_gets_an_id_and_a_receipt_for_that_id(start_sim: Start, fmt: str, base: int) -> None:
    sim = start_sim(carrier("alpha", message_id_format=fmt))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        sent = client.submit("447700900123", b"Your code is 123456, valid 5 minutes")
        resp = client.read()
        assert (resp.command_id, resp.sequence, resp.status) == (
            Cmd.SUBMIT_SM_RESP,
            sent.sequence,
            CommandStatus.ESME_ROK,
        )
        assert isinstance(resp.body, MessageIdResp)
        message_id = resp.body.message_id
        int(message_id, base)  # parses in the configured base
        deliver = client.read()
        client.ack(deliver)
    body = deliver.body
    assert isinstance(body, ShortMessage)
    assert (deliver.command_id, body.esm_class) == (Cmd.DELIVER_SM, 0x04)
    assert (body.source_addr, body.destination_addr) == ("447700900123", "Switchboard")
    text = body.short_message.decode("ascii")
    assert text.startswith(f"id:{message_id} sub:001 dlvrd:001 submit date:")
    assert text.endswith(" stat:DELIVRD err:000 text:Your code is 123456,")  # 20 chars
    assert body.tlvs[Tag.RECEIPTED_MESSAGE_ID] == message_id.encode() + b"\x00"
    assert body.tlvs[Tag.MESSAGE_STATE] == b"\x02"
    eventually(lambda: sim.stats()["alpha"]["receipts_acked"] == 1)
    assert sim.stats()["alpha"]["receipts_pending"] == 0


def test_undeliverable_receipt_says_so(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha", undelivered_share=1.0))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        client.submit()
        client.read()
        deliver = client.read()
    assert isinstance(deliver.body, ShortMessage)
    assert b" dlvrd:000 " in deliver.body.short_message
    assert b" stat:UNDELIV err:001 " in deliver.body.short_message
    assert deliver.body.tlvs[Tag.MESSAGE_STATE] == b"\x05"


def test_no_receipt_when_none_was_requested(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        client.submit(registered_delivery=0)
        client.submit(registered_delivery=1)
        first, second = client.read(), client.read()
        deliver = client.read()
        client.ack(deliver)
    assert isinstance(second.body, MessageIdResp)
    assert isinstance(first.body, MessageIdResp)
    assert isinstance(deliver.body, ShortMessage)
    assert deliver.body.tlvs[Tag.RECEIPTED_MESSAGE_ID] == second.body.message_id.encode() + b"\0"
    eventually(lambda: sim.stats()["alpha"]["receipts_acked"] == 1)
    assert sim.stats()["alpha"]["receipts_pending"] == 0


def test_mps_50_throttles_200_fast_submits_and_no_second_exceeds_50(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha", mps=50, receipts=False))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        for _ in range(200):
            client.submit()
        statuses = [client.read().status for _ in range(200)]
    stats = sim.stats()["alpha"]
    assert statuses.count(CommandStatus.ESME_RTHROTTLED) == stats["throttled"] > 0
    assert statuses.count(CommandStatus.ESME_ROK) == stats["submits_accepted"]
    assert stats["submits_accepted"] + stats["throttled"] == 200
    assert 0 < stats["max_mps_1s"] <= 50


def test_queue_full_throttle_answers_0x14(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha", mps=1, throttle="queue_full", receipts=False))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        client.submit()
        client.submit()
        assert [client.read().status, client.read().status] == [0, CommandStatus.ESME_RMSGQFUL]


def test_receipt_is_resent_after_a_session_drops_without_acking(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"))
    port = sim.simulator.ports["alpha"]
    with RawClient(port) as dropped:
        dropped.bind("alpha", "alphapw")
        dropped.submit()
        resp = dropped.read()
        first = dropped.read()  # the receipt, never acknowledged
    assert isinstance(resp.body, MessageIdResp)
    with RawClient(port) as client:
        client.bind("alpha", "alphapw", Cmd.BIND_RECEIVER)
        again = client.read()
        client.ack(again)
        eventually(lambda: sim.stats()["alpha"]["receipts_acked"] == 1)
        assert client.enquire_link().command_id == Cmd.ENQUIRE_LINK_RESP  # nothing else came
    assert isinstance(first.body, ShortMessage)
    assert isinstance(again.body, ShortMessage)
    assert again.body.short_message == first.body.short_message
    assert again.body.tlvs[Tag.RECEIPTED_MESSAGE_ID] == resp.body.message_id.encode() + b"\0"
    stats = sim.stats()["alpha"]
    assert (stats["receipts_sent"], stats["receipts_acked"], stats["receipts_pending"]) == (2, 1, 0)


def test_receipt_waits_for_a_receiver_and_transmitters_get_none(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"))
    port = sim.simulator.ports["alpha"]
    with RawClient(port) as sender:
        sender.bind("alpha", "alphapw", Cmd.BIND_TRANSMITTER)
        sender.submit()
        sender.read()
        eventually(lambda: sim.call(lambda s: len(s.carriers["alpha"].ready)) == 1)
        assert sender.enquire_link().command_id == Cmd.ENQUIRE_LINK_RESP  # no deliver_sm
        with RawClient(port) as receiver:
            receiver.bind("alpha", "alphapw", Cmd.BIND_RECEIVER)
            deliver = receiver.read()
            assert deliver.command_id == Cmd.DELIVER_SM
            receiver.ack(deliver)
            eventually(lambda: sim.stats()["alpha"]["receipts_acked"] == 1)


def test_receipts_are_spread_round_robin_over_receivers(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha", receipt_delay_ms=50))
    port = sim.simulator.ports["alpha"]
    with RawClient(port) as sender, RawClient(port) as one, RawClient(port) as two:
        one.bind("alpha", "alphapw", Cmd.BIND_RECEIVER)
        two.bind("alpha", "alphapw", Cmd.BIND_RECEIVER)
        sender.bind("alpha", "alphapw", Cmd.BIND_TRANSMITTER)
        for _ in range(10):
            sender.submit()
        for _ in range(10):
            sender.read()
        got_one = [one.read() for _ in range(5)]
        got_two = [two.read() for _ in range(5)]
        for pdu in got_one:
            one.ack(pdu)
        for pdu in got_two:
            two.ack(pdu)
        eventually(lambda: sim.stats()["alpha"]["receipts_acked"] == 10)


def test_unbind_is_answered_and_the_connection_closed(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        client.send_raw(header_only(Cmd.UNBIND, 0, 9))
        resp = client.read()
        assert (resp.command_id, resp.sequence) == (Cmd.UNBIND_RESP, 9)
        assert client.closed_by_peer()
    eventually(lambda: sim.stats()["alpha"]["binds"] == 0)


def _serves_a_good_client(port: int) -> bool:
    with RawClient(port) as good:
        good.bind("alpha", "alphapw")
        good.submit(registered_delivery=0)
        return good.read().status == CommandStatus.ESME_ROK


def test_unknown_command_gets_generic_nack_and_the_session_goes_on(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"))
    port = sim.simulator.ports["alpha"]
    with RawClient(port) as client:
        client.bind("alpha", "alphapw")
        client.send_raw(HEADER.pack(16, 0x00000103, 0, 41))  # data_sm: not played here
        nack = client.read()
        assert (nack.command_id, nack.status, nack.sequence) == (
            Cmd.GENERIC_NACK,
            CommandStatus.ESME_RINVCMDID,
            41,
        )
        assert client.enquire_link().command_id == Cmd.ENQUIRE_LINK_RESP
    assert sim.stats()["alpha"]["malformed"] == 1


def test_truncated_body_gets_generic_nack_and_is_counted(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"))
    port = sim.simulator.ports["alpha"]
    with RawClient(port) as client:
        client.bind("alpha", "alphapw")
        client.send_raw(HEADER.pack(19, Cmd.SUBMIT_SM, 0, 5) + b"abc")  # no NUL anywhere
        nack = client.read()
        assert (nack.command_id, nack.status, nack.sequence) == (
            Cmd.GENERIC_NACK,
            CommandStatus.ESME_RINVCMDLEN,
            5,
        )
        assert client.enquire_link().command_id == Cmd.ENQUIRE_LINK_RESP
    assert sim.stats()["alpha"]["malformed"] == 1
    assert _serves_a_good_client(port)


def test_bad_command_length_gets_generic_nack_then_close(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"))
    port = sim.simulator.ports["alpha"]
    with RawClient(port) as bystander:
        bystander.bind("alpha", "alphapw")
        with RawClient(port) as client:
            client.bind("alpha", "alphapw")
            client.send_raw(struct.pack(">IIII", 8, Cmd.ENQUIRE_LINK, 0, 77))
            nack = client.read()
            assert (nack.command_id, nack.status, nack.sequence) == (
                Cmd.GENERIC_NACK,
                CommandStatus.ESME_RINVCMDLEN,
                77,
            )
            assert client.closed_by_peer()
        assert bystander.enquire_link().command_id == Cmd.ENQUIRE_LINK_RESP
    assert sim.stats()["alpha"]["malformed"] == 1
    assert _serves_a_good_client(port)


def test_garbage_bytes_never_take_the_server_down(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"))
    port = sim.simulator.ports["alpha"]
    for junk in (b"\xff" * 64, b"GET / HTTP/1.1\r\n\r\n", b"\x00\x00\x00\x14" + b"\x00" * 16):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(junk)
            raw.recv(1024)  # a generic_nack, or the close
    assert sim.stats()["alpha"]["malformed"] == 3
    assert _serves_a_good_client(port)


def _http(port: int, path: str, body: dict[str, object] | None = None) -> tuple[int, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_control_endpoint_reports_stats_and_changes_mps_live(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha", mps=1000, receipts=False), control_port=0)
    control = sim.simulator.control_port
    assert control
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        assert _http(control, "/faults", {"carrier": "alpha", "mps": 3}) == (
            200,
            {
                "carrier": "alpha",
                "dropped": 0,
                "mode": "normal",
                "forced": False,
                "mps": 3,
                "burst": 3,
            },
        )
        for _ in range(10):
            client.submit()
        statuses = [client.read().status for _ in range(10)]
    assert statuses.count(CommandStatus.ESME_ROK) == 3
    status, stats = _http(control, "/stats")
    assert status == 200
    assert isinstance(stats, dict)
    assert stats["alpha"]["mps"] == 3
    assert stats["alpha"]["submits_accepted"] == 3
    assert stats["alpha"]["throttled"] == 7


def test_control_endpoint_rejects_bad_faults(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"), control_port=0)
    control = sim.simulator.control_port
    assert control
    status, body = _http(control, "/faults", {"carrier": "zulu", "mps": 3})
    assert status == 404
    assert isinstance(body, dict)
    assert body["title"] == "unknown carrier"
    status, body = _http(control, "/faults", {"carrier": "alpha", "mps": 0})
    assert status == 400
    assert isinstance(body, dict)
    assert "mps" in str(body["detail"])


def test_audit_file_has_one_line_per_accepted_submit(start_sim: Start, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    sim = start_sim(carrier("alpha", mps=2, receipts=False), audit_path=str(audit))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        udh = bytes([6, 8, 4, 0x12, 0x34, 2, 1])
        client.submit("447700900001", udh + b"part one", esm_class=0x40, data_coding=0)
        client.submit("447700900002", b"plain")
        client.submit("447700900003", b"throttled")
        ids = [client.read().body for _ in range(3)]
    sim.stop()  # flushes the audit file
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [line["destination"] for line in lines] == ["447700900001", "447700900002"]
    assert [line["sar"] for line in lines] == [[0x1234, 2, 1], None]
    assert lines[0]["esm_class"] == 0x40
    assert isinstance(ids[0], MessageIdResp)
    assert lines[0]["message_id"] == ids[0].message_id
    assert set(lines[0]) == {
        "ts",
        "carrier",
        "message_id",
        "source",
        "destination",
        "esm_class",
        "data_coding",
        "sar",
    }


def test_a_taken_port_fails_start_and_frees_the_others() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        scenario = Scenario(carriers=[carrier("alpha"), carrier("beta", port=busy)])
        thread = SimulatorThread(scenario)
        with pytest.raises(OSError, match="in use"):
            thread.start()
    assert thread.simulator.ports.get("beta") is None
    alpha = thread.simulator.ports["alpha"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", alpha))  # released again
