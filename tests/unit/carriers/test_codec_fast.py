"""The codec's struct fast paths agree with smpplib byte for byte and field for field.

submit_sm is built, and submit_sm_resp / deliver_sm read, without smpplib (a fifth of a send
worker's CPU went there); these properties pin them to what smpplib makes of the same PDU,
including how it fails on broken ones.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carriers.smpp import codec
from carriers.smpp.types import SubmitPart
from messaging.errors import CarrierSystemError

pytestmark = pytest.mark.unit

octet = st.integers(0, 255)
ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24)
sequence = st.integers(1, codec.MAX_SEQUENCE)


def _generic_submit_sm(seq: int, part: SubmitPart) -> bytes:
    return codec.encode(
        "submit_sm",
        seq,
        fields={
            "source_addr_ton": part.source_ton,
            "source_addr_npi": part.source_npi,
            "source_addr": part.source,
            "dest_addr_ton": part.dest_ton,
            "dest_addr_npi": part.dest_npi,
            "destination_addr": part.destination,
            "esm_class": part.esm_class,
            "registered_delivery": part.registered_delivery,
            "data_coding": part.data_coding,
            "short_message": part.short_message,
        },
    )


@given(
    seq=sequence,
    source=ascii_text.filter(bool),
    destination=st.from_regex(r"\+?[0-9]{1,24}", fullmatch=True),
    short_message=st.binary(max_size=254),
    data_coding=octet,
    esm_class=octet,
    registered_delivery=octet,
)
def test_submit_sm_fast_path_is_byte_for_byte_smpplibs(
    seq: int,
    source: str,
    destination: str,
    short_message: bytes,
    data_coding: int,
    esm_class: int,
    registered_delivery: int,
) -> None:
    part = SubmitPart(
        source=source,
        destination=destination,
        short_message=short_message,
        data_coding=data_coding,
        esm_class=esm_class,
        registered_delivery=registered_delivery,
    )
    assert codec.submit_sm(seq, part) == _generic_submit_sm(seq, part)


@given(seq=sequence, status=st.sampled_from([0, 0x58, 0x14]), message_id=ascii_text)
def test_submit_sm_resp_fast_path_reads_what_smpplib_reads(
    seq: int, status: int, message_id: str
) -> None:
    frame = codec.encode("submit_sm_resp", seq, status, {"message_id": message_id or "x"})
    assert codec.decode(frame) == codec.decode_generic(frame)
    bare = codec.HEADER.pack(16, 0x80000004, status, seq)  # an error answer without a body
    assert codec.decode(bare) == codec.decode_generic(bare)


deliver_fields = st.fixed_dictionaries(
    {
        "source_addr_ton": octet,
        "source_addr_npi": octet,
        "source_addr": ascii_text,
        "dest_addr_ton": octet,
        "dest_addr_npi": octet,
        "destination_addr": ascii_text,
        "esm_class": octet,
        "data_coding": octet,
        "short_message": st.binary(max_size=200),
    },
    optional={
        "receipted_message_id": ascii_text.filter(bool),
        "message_state": st.integers(1, 8),
        "network_error_code": st.binary(min_size=3, max_size=3).filter(any),
        "user_message_reference": st.integers(1, 0xFFFF),  # a TLV the fast path leaves to smpplib
    },
)


@given(seq=sequence, fields=deliver_fields)
def test_deliver_sm_fast_path_reads_what_smpplib_reads(seq: int, fields: dict[str, Any]) -> None:
    frame = codec.encode("deliver_sm", seq, fields=fields)
    fast, generic = codec.decode(frame), codec.decode_generic(frame)
    assert fast == generic
    assert fast.octets("short_message") == fields["short_message"]


def _outcome(decode: Any, frame: bytes) -> object:
    try:
        return decode(frame)
    except CarrierSystemError as exc:
        return ("error", exc.status)


@settings(max_examples=300)
@given(
    seq=sequence,
    fields=deliver_fields,
    cut=st.integers(0, 400),
    flips=st.lists(st.tuples(st.integers(16, 400), octet), max_size=3),
)
def test_a_broken_deliver_sm_gets_smpplibs_answer(
    seq: int, fields: dict[str, Any], cut: int, flips: list[tuple[int, int]]
) -> None:
    frame = bytearray(codec.encode("deliver_sm", seq, fields=fields))
    for at, value in flips:
        if at < len(frame):
            frame[at] = value
    body = bytes(frame[: max(16, min(cut, len(frame)))])
    broken = len(body).to_bytes(4, "big") + body[4:]
    assert _outcome(codec.decode, broken) == _outcome(codec.decode_generic, broken)


@given(seq=sequence)
def test_body_less_answers_are_smpplibs_with_the_sequence(seq: int) -> None:
    for command in ("deliver_sm_resp", "enquire_link_resp", "unbind_resp", "generic_nack"):
        assert codec.response(command, seq) == codec.encode(command, seq)
    assert codec.response("deliver_sm_resp", seq, 0x65) == codec.encode(
        "deliver_sm_resp", seq, 0x65
    )
