"""Parts: data_coding by alphabet, 8-bit concatenation UDH, stable references."""

from __future__ import annotations

import pytest

from carriers.parts import build_parts, concat_udh, reference_for
from messaging.encoding import decode_gsm7, segment
from messaging.errors import InvalidInput

AIR_INTERFACE_OCTETS = 140  # 3GPP TS 23.040 §9.2.3.24: TP-UD holds 140 octets
UDH_8BIT = 6


def test_short_gsm7_text_is_one_part_with_data_coding_0_and_no_udh() -> None:
    parts = build_parts("Acme", "+447700900123", segment("Your code is 123456"), 1)

    assert len(parts) == 1
    assert parts[0].data_coding == 0
    assert parts[0].esm_class == 0
    assert decode_gsm7(parts[0].short_message) == "Your code is 123456"
    assert parts[0].destination == "447700900123"


def test_ucs2_text_is_data_coding_8_utf16_be() -> None:
    parts = build_parts("Acme", "447700900123", segment("Код: 4821"), 1)

    assert parts[0].data_coding == 8
    assert parts[0].short_message == "Код: 4821".encode("utf-16-be")


def test_long_text_gets_8bit_concat_udh_and_udhi() -> None:
    text = "x" * 400
    seg = segment(text)

    parts = build_parts("Acme", "447700900123", seg, 0xBE)

    assert len(parts) == seg.segments > 1
    for number, part in enumerate(parts, start=1):
        assert part.esm_class == 0x40
        assert part.short_message[:UDH_8BIT] == bytes((5, 0x00, 3, 0xBE, len(parts), number))
    joined = "".join(decode_gsm7(p.short_message[UDH_8BIT:]) for p in parts)
    assert joined == text


def test_concat_udh_layout() -> None:
    assert concat_udh(0x12, 3, 2) == b"\x05\x00\x03\x12\x03\x02"


def test_reference_is_stable_and_8_bits() -> None:
    assert reference_for("msg_01") == reference_for("msg_01")
    assert 0 <= reference_for("msg_01") <= 0xFF
    distinct = {reference_for(f"msg_{n}") for n in range(1000)}
    assert len(distinct) > 240  # 1000 ids spread over (nearly) all 256 references


@pytest.mark.parametrize("reference", [-1, 0x100])
def test_reference_out_of_range_is_invalid_input(reference: int) -> None:
    with pytest.raises(InvalidInput):
        build_parts("Acme", "447700900123", segment("x" * 400), reference)


@pytest.mark.parametrize("text", ["x" * 400, "Код " * 100])
def test_every_part_fits_the_air_interface_with_the_8bit_udh(text: str) -> None:
    parts = build_parts("Acme", "447700900123", segment(text), 7)

    for part in parts:
        body = part.short_message[UDH_8BIT:]
        if part.data_coding == 0:
            # GSM-7 septets start on a septet boundary after the UDH (TS 23.040 §9.2.3.24).
            udh_septets = -(-UDH_8BIT * 8 // 7)
            assert udh_septets + len(body) <= 160
        else:
            assert UDH_8BIT + len(body) <= AIR_INTERFACE_OCTETS
