"""Mobile-originated messages: alphabet, shape of the deliver_sm, one segment only."""

from __future__ import annotations

import pytest

from simulators.mo import mobile_originated
from simulators.pdu import Cmd, ShortMessage


def test_gsm7_text_goes_as_data_coding_0_with_esm_class_0() -> None:
    pdu = mobile_originated("+447700900123", "12345", "STOP").to_pdu(0.0, 9)
    body = pdu.body
    assert isinstance(body, ShortMessage)
    assert (pdu.command_id, pdu.sequence) == (Cmd.DELIVER_SM, 9)
    assert (body.source_addr, body.destination_addr) == ("447700900123", "12345")
    assert (body.esm_class, body.data_coding, body.short_message) == (0, 0, b"STOP")


def test_non_gsm_text_goes_as_ucs2() -> None:
    mo = mobile_originated("447700900123", "Switchboard", "Спасибо")
    assert (mo.data_coding, mo.short_message) == (8, "Спасибо".encode("utf-16-be"))
    assert mo.is_receipt is False


def test_text_longer_than_one_segment_is_refused() -> None:
    with pytest.raises(ValueError, match="needs 2"):
        mobile_originated("447700900123", "12345", "x" * 161)
