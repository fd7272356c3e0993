"""deliver_sm classification and MO decoding — no sockets."""

from __future__ import annotations

import pytest

from carriers.smpp import codec
from carriers.smpp.inbound import concat_ref, is_receipt, mo_text, to_mo
from carriers.smpp.types import Mo
from messaging import ConcatRef
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


def test_a_concatenated_part_carries_its_reference() -> None:
    udh = bytes((5, 0x00, 3, 0x2A, 3, 2))
    pdu = _deliver(esm_class=0x40, data_coding=0, short_message=udh + encode_gsm7("middle"))

    assert to_mo(pdu) == Mo("", "", "middle", ConcatRef(0x2A, 3, 2))


def test_a_16_bit_reference_after_another_element_is_read() -> None:
    # IEI 0x0A (text formatting, 3 octets) first, then IEI 0x08: reference 0x1234, part 1 of 2
    udh = bytes((11, 0x0A, 3, 0, 0, 0, 0x08, 4, 0x12, 0x34, 2, 1))
    pdu = _deliver(esm_class=0x40, data_coding=8, short_message=udh + "Hi".encode("utf-16-be"))

    assert to_mo(pdu).part == ConcatRef(0x1234, 2, 1)


@pytest.mark.parametrize(
    "udh", [bytes((3, 0x00, 3, 1)), bytes((5, 0x00, 3, 1, 2, 0)), bytes((5, 0x00, 3, 1, 2, 3))]
)
def test_a_malformed_concatenation_element_is_no_concatenation(udh: bytes) -> None:
    assert concat_ref(udh[1:]) is None


def test_no_udh_indicator_means_no_part() -> None:
    assert to_mo(_deliver(short_message=b"STOP")).part is None
