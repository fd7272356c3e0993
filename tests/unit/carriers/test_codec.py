"""Codec: explicit sequence numbers, typed fields, framing, smpplib errors become ours."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carriers.smpp import codec
from carriers.smpp.types import Endpoint, SubmitPart
from messaging.errors import CarrierSystemError, InvalidInput


def test_submit_sm_carries_the_explicit_sequence_and_typed_fields() -> None:
    part = SubmitPart("Acme", "+447700900123", b"hello", 0)

    pdu = codec.decode(codec.submit_sm(4242, part))

    assert (pdu.command, pdu.sequence, pdu.status) == ("submit_sm", 4242, 0)
    assert pdu.text("source_addr") == "Acme"
    assert pdu.text("destination_addr") == "447700900123"
    assert (pdu.integer("source_addr_ton"), pdu.integer("source_addr_npi")) == (5, 0)
    assert (pdu.integer("dest_addr_ton"), pdu.integer("dest_addr_npi")) == (1, 1)
    assert pdu.integer("registered_delivery") == 1
    assert pdu.octets("short_message") == b"hello"


def test_numeric_sender_is_international_isdn_without_plus() -> None:
    pdu = codec.decode(codec.submit_sm(1, SubmitPart("+15551234567", "15557654321", b"x", 0)))

    assert pdu.text("source_addr") == "15551234567"
    assert (pdu.integer("source_addr_ton"), pdu.integer("source_addr_npi")) == (1, 1)


@given(sequence=st.integers(min_value=1, max_value=codec.MAX_SEQUENCE))
def test_sequence_numbers_roundtrip_over_the_whole_range(sequence: int) -> None:
    frame = codec.response("deliver_sm_resp", sequence)

    assert codec.peek_header(frame).sequence == sequence
    assert codec.decode(frame).sequence == sequence


def test_submit_sm_resp_status_and_message_id_are_decoded() -> None:
    frame = codec.encode("submit_sm_resp", 9, 0x58, {"message_id": "1A2B"})

    pdu = codec.decode(frame)

    assert (pdu.command, pdu.status, pdu.sequence, pdu.text("message_id")) == (
        "submit_sm_resp",
        0x58,
        9,
        "1A2B",
    )
    assert pdu.is_response


def test_bind_transceiver_carries_credentials_and_version_34() -> None:
    endpoint = Endpoint("alpha", "127.0.0.1", 2775, "switchboard", "secret", "OTP")

    pdu = codec.decode(codec.bind_transceiver(1, endpoint))

    assert pdu.command == "bind_transceiver"
    assert (pdu.text("system_id"), pdu.text("password"), pdu.text("system_type")) == (
        "switchboard",
        "secret",
        "OTP",
    )
    assert pdu.integer("interface_version") == 0x34


def test_deliver_sm_receipt_tlvs_are_typed() -> None:
    frame = codec.encode(
        "deliver_sm",
        3,
        fields={
            "esm_class": 0x04,
            "short_message": b"id:abc stat:DELIVRD",
            "receipted_message_id": "abc",
            "message_state": 2,
        },
    )

    pdu = codec.decode(frame)

    assert pdu.integer("esm_class") == 0x04
    assert pdu.text("receipted_message_id") == "abc"
    assert pdu.integer("message_state") == 2


def test_unknown_optional_parameters_are_skipped_not_fatal() -> None:
    frame = codec.encode("deliver_sm", 3, fields={"short_message": b"hi"})
    vendor_tlv = struct.pack(">HH", 0x1401, 3) + b"xyz"  # SMSC-specific range, SMPP 3.4 §5.3.2
    patched = struct.pack(">I", len(frame) + len(vendor_tlv)) + frame[4:] + vendor_tlv

    pdu = codec.decode(patched)

    assert pdu.octets("short_message") == b"hi"


def test_unknown_command_id_is_rinvcmdid_with_the_header_still_readable() -> None:
    frame = struct.pack(">IIII", 16, 0x00000099, 0, 77)

    with pytest.raises(CarrierSystemError) as caught:
        codec.decode(frame)

    assert caught.value.status == codec.ESME_RINVCMDID
    assert codec.peek_header(frame).sequence == 77


def test_command_smpplib_cannot_build_is_rinvcmdid() -> None:
    frame = struct.pack(">IIII", 16, 0x00000008, 0, 5)  # cancel_sm

    with pytest.raises(CarrierSystemError) as caught:
        codec.decode(frame)

    assert caught.value.status == codec.ESME_RINVCMDID


def test_length_that_disagrees_with_the_frame_is_rinvcmdlen() -> None:
    frame = struct.pack(">IIII", 40, 0x80000015, 0, 5)

    with pytest.raises(CarrierSystemError) as caught:
        codec.decode(frame)

    assert caught.value.status == codec.ESME_RINVCMDLEN


def test_truncated_header_is_rinvcmdlen() -> None:
    with pytest.raises(CarrierSystemError) as caught:
        codec.peek_header(b"\x00\x00\x00\x10")

    assert caught.value.status == codec.ESME_RINVCMDLEN


def test_short_message_over_254_octets_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        codec.submit_sm(1, SubmitPart("Acme", "447700900123", b"x" * 255, 0))


def test_unknown_field_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        codec.encode("submit_sm", 1, fields={"no_such_field": 1})


def test_sequence_outside_smpp_range_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        codec.encode("enquire_link", codec.MAX_SEQUENCE + 1)


@given(
    chunks=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30),
    count=st.integers(min_value=1, max_value=5),
)
def test_frame_buffer_reassembles_frames_split_anywhere(chunks: list[int], count: int) -> None:
    frames = [
        codec.submit_sm(n, SubmitPart("Acme", "447700900123", b"m" * n, 0))
        for n in range(1, count + 1)
    ]
    stream = b"".join(frames)
    buffer = codec.FrameBuffer()
    out: list[bytes] = []
    position = 0
    for size in [*chunks, len(stream)]:
        out += buffer.feed(stream[position : position + size])
        position += size

    assert out == frames
    assert buffer.pending == 0


@pytest.mark.parametrize("length", [0, 15, codec.MAX_PDU_LENGTH + 1])
def test_frame_buffer_rejects_impossible_lengths(length: int) -> None:
    with pytest.raises(CarrierSystemError) as caught:
        codec.FrameBuffer().feed(struct.pack(">I", length) + b"\x00" * 12)

    assert caught.value.status == codec.ESME_RINVCMDLEN


def test_generic_nack_carries_the_status() -> None:
    pdu = codec.decode(codec.response("generic_nack", 12, codec.ESME_RINVCMDID))

    assert (pdu.command, pdu.status, pdu.sequence) == ("generic_nack", 3, 12)
