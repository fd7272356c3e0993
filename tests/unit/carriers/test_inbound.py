"""deliver_sm classification and MO decoding — no sockets."""

from __future__ import annotations

import pytest

from carriers.smpp import codec
from carriers.smpp.inbound import is_receipt, mo_text, to_mo
from carriers.smpp.types import Mo
from messaging.encoding import encode_gsm7


def _deliver(**fields: object) -> codec.Pdu:
    return codec.decode(codec.encode("deliver_sm", 1, fields=fields))


@pytest.mark.parametrize(
    ("esm_class", "receipt"),
    [(0x00, False), (0x04, True), (0x44, True), (0x20, True), (0x08, False), (0x40, False)],
)
def test_esm_class_message_type_decides_receipt(esm_class: int, receipt: bool) -> None:
    assert is_receipt(_deliver(esm_class=esm_class, short_message=b"x")) is receipt


def test_gsm7_mo_is_decoded() -> None:
    pdu = _deliver(
        source_addr="447700900123",
        destination_addr="12345",
        data_coding=0,
        short_message=encode_gsm7("STOP €"),
    )

    assert to_mo(pdu) == Mo("447700900123", "12345", "STOP €")


def test_ucs2_mo_with_udh_skips_the_header() -> None:
    udh = bytes((5, 0x00, 3, 0x2A, 2, 1))
    pdu = _deliver(esm_class=0x40, data_coding=8, short_message=udh + "Привет".encode("utf-16-be"))

    assert mo_text(pdu) == "Привет"


def test_other_data_coding_is_shown_octet_for_octet() -> None:
    assert mo_text(_deliver(data_coding=3, short_message="café".encode("latin-1"))) == "café"
