"""Faults over real TCP: forced modes, dropped connections, scheduled outages."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

import pytest

from simulators import SimulatorThread
from simulators.faults import Mode
from simulators.pdu import Cmd, CommandStatus, ShortMessage, Tag
from simulators.scenario import Outage
from tests.integration.simulators.conftest import carrier, eventually
from tests.integration.simulators.smpp_client import RawClient

Start = Callable[..., SimulatorThread]


def _post(port: int, body: Mapping[str, object], path: str = "/faults") -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        answer: dict[str, object] = json.loads(response.read())
        return answer


def test_syserr_mode_answers_every_submit_with_0x08(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"), control_port=0)
    control = sim.simulator.control_port
    assert control
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        assert _post(control, {"carrier": "alpha", "mode": "syserr"})["mode"] == "syserr"
        client.submit()
        assert client.read().status == CommandStatus.ESME_RSYSERR
        assert _post(control, {"carrier": "alpha", "mode": "schedule"})["mode"] == "normal"
        client.submit(registered_delivery=0)
        assert client.read().status == CommandStatus.ESME_ROK


def test_silent_mode_never_answers_submits_but_keeps_the_link(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"))
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw")
        sim.call(lambda s: s.set_mode("alpha", Mode.SILENT))
        client.submit()
        assert client.enquire_link().command_id == Cmd.ENQUIRE_LINK_RESP  # not a submit_sm_resp
    assert sim.stats()["alpha"]["submits_accepted"] == 0


def test_down_mode_drops_sessions_and_refuses_binds_until_cleared(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"))
    port = sim.simulator.ports["alpha"]
    with RawClient(port) as client:
        client.bind("alpha", "alphapw")
        sim.call(lambda s: s.set_mode("alpha", Mode.DOWN))
        assert client.closed_by_peer()
    with RawClient(port) as client:
        assert client.bind("alpha", "alphapw").status == CommandStatus.ESME_RBINDFAIL
        sim.call(lambda s: s.set_mode("alpha", None))
        assert client.bind("alpha", "alphapw").status == CommandStatus.ESME_ROK


def test_dropped_connection_gets_its_unacked_receipt_again(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"), control_port=0)
    control = sim.simulator.control_port
    assert control
    port = sim.simulator.ports["alpha"]
    with RawClient(port) as client:
        client.bind("alpha", "alphapw")
        client.submit()
        client.read()
        first = client.read()
        assert _post(control, {"carrier": "alpha", "drop": True})["dropped"] == 1
        assert client.closed_by_peer()
    with RawClient(port) as client:
        client.bind("alpha", "alphapw")
        again = client.read()
        client.ack(again)
    assert isinstance(first.body, ShortMessage)
    assert isinstance(again.body, ShortMessage)
    assert again.body.tlvs[Tag.RECEIPTED_MESSAGE_ID] == first.body.tlvs[Tag.RECEIPTED_MESSAGE_ID]
    eventually(lambda: sim.stats()["alpha"]["receipts_acked"] == 1)


def test_scheduled_outage_refuses_binds_then_heals(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha", outages=[Outage(after_s=0, for_s=0.3, mode=Mode.DOWN)]))
    port = sim.simulator.ports["alpha"]
    eventually(lambda: sim.call(lambda s: s.carriers["alpha"].mode) is Mode.DOWN)
    with RawClient(port) as client:
        assert client.bind("alpha", "alphapw").status == CommandStatus.ESME_RBINDFAIL
        eventually(lambda: sim.call(lambda s: s.carriers["alpha"].mode) is Mode.NORMAL)
        assert client.bind("alpha", "alphapw").status == CommandStatus.ESME_ROK


def test_injected_mo_waits_for_a_receiver_and_is_acked(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"), control_port=0)
    control = sim.simulator.control_port
    assert control
    request = {"carrier": "alpha", "source": "+447700900123", "destination": "12345"}
    assert _post(control, request | {"text": "STOP"}, path="/mo") == {"queued": True}
    assert sim.stats()["alpha"]["mo_pending"] == 1
    with RawClient(sim.simulator.ports["alpha"]) as client:
        client.bind("alpha", "alphapw", Cmd.BIND_RECEIVER)
        mo = client.read()
        client.ack(mo)
        eventually(lambda: sim.stats()["alpha"]["mo_acked"] == 1)
    assert isinstance(mo.body, ShortMessage)
    assert (mo.command_id, mo.body.esm_class) == (Cmd.DELIVER_SM, 0)
    assert (mo.body.source_addr, mo.body.short_message) == ("447700900123", b"STOP")
    stats = sim.stats()["alpha"]
    assert (stats["mo_pending"], stats["receipts_sent"]) == (0, 0)


def test_mo_too_long_or_for_an_unknown_carrier_is_refused(start_sim: Start) -> None:
    sim = start_sim(carrier("alpha"), control_port=0)
    control = sim.simulator.control_port
    assert control
    request = {"source": "447700900123", "destination": "12345"}
    with pytest.raises(urllib.error.HTTPError) as too_long:
        _post(control, request | {"carrier": "alpha", "text": "x" * 200}, path="/mo")
    too_long.value.close()
    assert too_long.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as unknown:
        _post(control, request | {"carrier": "zulu", "text": "hi"}, path="/mo")
    unknown.value.close()
    assert unknown.value.code == 404


def test_restart_counts_the_fault_timeline_from_now(start_sim: Start) -> None:
    outage = Outage(after_s=0.3, for_s=60, mode=Mode.DOWN)
    sim = start_sim(carrier("alpha", outages=[outage]), control_port=0)
    control = sim.simulator.control_port
    assert control
    eventually(lambda: sim.call(lambda s: s.carriers["alpha"].mode) is Mode.DOWN)
    assert _post(control, {"carrier": "alpha", "restart": True})["mode"] == "normal"
    with RawClient(sim.simulator.ports["alpha"]) as client:
        assert client.bind("alpha", "alphapw").status == CommandStatus.ESME_ROK
        assert client.closed_by_peer()  # 0.3 s later the window opens again and drops the link
    with pytest.raises(urllib.error.HTTPError) as empty:
        _post(control, {"carrier": "alpha"})
    empty.value.close()
    assert empty.value.code == 400
