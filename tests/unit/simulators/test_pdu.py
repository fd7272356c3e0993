"""The simulator's struct codec: roundtrips, and the status every malformed PDU earns."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.pdu import (
    HEADER,
    Bind,
    BindResp,
    Cmd,
    CommandStatus,
    MessageIdResp,
    Pdu,
    PduError,
    ShortMessage,
    decode,
    encode,
    header_only,
    message_id_resp,
    split_frames,
)


def cstr(limit: int) -> st.SearchStrategy[str]:
    """Latin-1 text without NUL that fits a C-Octet String of `limit` octets."""
    alphabet = st.characters(min_codepoint=1, max_codepoint=255)
    return st.text(alphabet, max_size=limit - 1)


octet = st.integers(0, 255)
sequence = st.integers(1, 0x7FFFFFFF)
tlvs = st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=20), max_size=4)

short_messages = st.builds(
    ShortMessage,
    source_addr=cstr(21),
    destination_addr=cstr(21),
    short_message=st.binary(max_size=254),
    service_type=cstr(6),
    source_addr_ton=octet,
    source_addr_npi=octet,
    dest_addr_ton=octet,
    dest_addr_npi=octet,
    esm_class=octet,
    protocol_id=octet,
    priority_flag=octet,
    schedule_delivery_time=cstr(17),
    validity_period=cstr(17),
    registered_delivery=octet,
    replace_if_present_flag=octet,
    data_coding=octet,
    sm_default_msg_id=octet,
    tlvs=tlvs,
)
binds = st.builds(
    Bind,
    system_id=cstr(16),
    password=cstr(9),
    system_type=cstr(13),
    interface_version=octet,
    addr_ton=octet,
    addr_npi=octet,
    address_range=cstr(41),
)


@given(st.sampled_from([Cmd.SUBMIT_SM, Cmd.DELIVER_SM]), sequence, short_messages)
def test_short_message_roundtrips(command_id: int, seq: int, body: ShortMessage) -> None:
    pdu = Pdu(command_id, seq, body=body)
    assert decode(encode(pdu)) == pdu


@given(
    st.sampled_from([Cmd.BIND_RECEIVER, Cmd.BIND_TRANSMITTER, Cmd.BIND_TRANSCEIVER]),
    sequence,
    binds,
)
def test_bind_roundtrips(command_id: int, seq: int, body: Bind) -> None:
    pdu = Pdu(command_id, seq, body=body)
    assert decode(encode(pdu)) == pdu


@given(sequence, cstr(16), tlvs)
def test_bind_resp_roundtrips(seq: int, system_id: str, extra: dict[int, bytes]) -> None:
    pdu = Pdu(Cmd.BIND_TRANSCEIVER_RESP, seq, body=BindResp(system_id, extra))
    assert decode(encode(pdu)) == pdu


@given(sequence, st.text("0123456789abcdef", max_size=64))
def test_submit_sm_resp_fast_path_matches_the_general_encoder(seq: int, message_id: str) -> None:
    fast = message_id_resp(Cmd.SUBMIT_SM_RESP, seq, message_id.encode())
    assert fast == encode(Pdu(Cmd.SUBMIT_SM_RESP, seq, body=MessageIdResp(message_id)))
    assert decode(fast).body == MessageIdResp(message_id)


def test_error_response_without_body_decodes() -> None:
    pdu = decode(header_only(Cmd.SUBMIT_SM_RESP, CommandStatus.ESME_RTHROTTLED, 7))
    assert (pdu.status, pdu.sequence, pdu.body) == (
        CommandStatus.ESME_RTHROTTLED,
        7,
        MessageIdResp(""),
    )


def _submit_bytes() -> bytes:
    return encode(Pdu(Cmd.SUBMIT_SM, 9, body=ShortMessage("src", "dst", b"hello")))


def _with_length(body: bytes, command_id: int = Cmd.SUBMIT_SM) -> bytes:
    return HEADER.pack(16 + len(body), command_id, 0, 9) + body


@pytest.mark.parametrize(
    ("frame", "status"),
    [
        (b"\x00\x00\x00\x10abc", CommandStatus.ESME_RINVCMDLEN),  # shorter than a header
        (HEADER.pack(40, Cmd.ENQUIRE_LINK, 0, 1), CommandStatus.ESME_RINVCMDLEN),  # length lies
        (HEADER.pack(16, 0x00000099, 0, 1), CommandStatus.ESME_RINVCMDID),  # unknown command
        (_with_length(b"src"), CommandStatus.ESME_RINVCMDLEN),  # C-string without its NUL
        (_with_length(b"x" * 30 + b"\x00", Cmd.BIND_TRANSMITTER), CommandStatus.ESME_RINVCMDLEN),
        (
            _submit_bytes()[:-6] + b"\x09" + b"hello",
            CommandStatus.ESME_RINVMSGLEN,
        ),  # sm_length 9, 5 sent
    ],
    ids=["short", "length-mismatch", "unknown-id", "no-nul", "system-id-too-long", "sm-length"],
)
def test_malformed_pdus_raise_the_status_to_answer_with(frame: bytes, status: int) -> None:
    with pytest.raises(PduError) as caught:
        decode(frame)
    assert caught.value.status == status


def test_truncated_tlv_is_a_length_error() -> None:
    frame = encode(Pdu(Cmd.SUBMIT_SM, 1, body=ShortMessage("a", "b", b"x", tlvs={0x1E: b"abc"})))
    cut = frame[:-1]
    cut = struct.pack(">I", len(cut)) + cut[4:]
    with pytest.raises(PduError) as caught:
        decode(cut)
    assert caught.value.status == CommandStatus.ESME_RINVCMDLEN


def test_split_frames_keeps_a_partial_pdu_for_the_next_read() -> None:
    one = header_only(Cmd.ENQUIRE_LINK, 0, 1)
    two = _submit_bytes()
    buffer = bytearray(one + two[:10])
    frames, bad = split_frames(buffer)
    assert (frames, bad, bytes(buffer)) == ([one], None, two[:10])
    buffer += two[10:]
    frames, bad = split_frames(buffer)
    assert (frames, bad, bytes(buffer)) == ([two], None, b"")


@pytest.mark.parametrize("length", [0, 8, 15, 1_000_000])
def test_split_frames_reports_an_impossible_command_length(length: int) -> None:
    good = header_only(Cmd.ENQUIRE_LINK, 0, 1)
    buffer = bytearray(good + struct.pack(">I", length) + b"\x00" * 12)
    frames, bad = split_frames(buffer)
    assert (frames, bad) == ([good], length)
