"""A small struct-based SMPP 3.4 codec for the server side of the simulator.

Only the PDUs an SMSC simulator needs: bind_* (+ resp), submit_sm / deliver_sm (+ resp),
enquire_link, unbind (+ resp) and generic_nack. TLVs are kept as a dict tag → raw value.
Decoding raises :class:`PduError` carrying the command_status the server answers with.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

# SMPP 3.4 §3.2: every PDU starts with four 4-octet integers, big-endian.
HEADER: Final = struct.Struct(">IIII")
HEADER_SIZE: Final = 16
# A sane upper bound for command_length: the largest legal PDU (submit_sm with every TLV and
# a 64 KiB message_payload) is well below this; anything larger is a framing error.
MAX_PDU_SIZE: Final = 70_000
_TLV_HEADER: Final = struct.Struct(">HH")
_U8X3: Final = struct.Struct(">BBB")
_U8X4: Final = struct.Struct(">BBBB")
_NUL: Final = b"\x00"
RESPONSE_BIT: Final = 0x80000000


class Cmd:
    """command_id values, SMPP 3.4 §5.1.2.1."""

    GENERIC_NACK: Final = 0x80000000
    BIND_RECEIVER: Final = 0x00000001
    BIND_RECEIVER_RESP: Final = 0x80000001
    BIND_TRANSMITTER: Final = 0x00000002
    BIND_TRANSMITTER_RESP: Final = 0x80000002
    SUBMIT_SM: Final = 0x00000004
    SUBMIT_SM_RESP: Final = 0x80000004
    DELIVER_SM: Final = 0x00000005
    DELIVER_SM_RESP: Final = 0x80000005
    UNBIND: Final = 0x00000006
    UNBIND_RESP: Final = 0x80000006
    BIND_TRANSCEIVER: Final = 0x00000009
    BIND_TRANSCEIVER_RESP: Final = 0x80000009
    ENQUIRE_LINK: Final = 0x00000015
    ENQUIRE_LINK_RESP: Final = 0x80000015


class CommandStatus:
    """command_status values the simulator uses, SMPP 3.4 §5.1.3."""

    ESME_ROK: Final = 0x00000000
    ESME_RINVMSGLEN: Final = 0x00000001
    ESME_RINVCMDLEN: Final = 0x00000002
    ESME_RINVCMDID: Final = 0x00000003
    ESME_RINVBNDSTS: Final = 0x00000004
    ESME_RALYBND: Final = 0x00000005
    ESME_RSYSERR: Final = 0x00000008
    ESME_RBINDFAIL: Final = 0x0000000D
    ESME_RINVPASWD: Final = 0x0000000E
    ESME_RINVSYSID: Final = 0x0000000F
    ESME_RMSGQFUL: Final = 0x00000014
    ESME_RTHROTTLED: Final = 0x00000058
    ESME_RUNKNOWNERR: Final = 0x000000FF


class Tag:
    """TLV tags, SMPP 3.4 §5.3.2."""

    SC_INTERFACE_VERSION: Final = 0x0210
    RECEIPTED_MESSAGE_ID: Final = 0x001E
    MESSAGE_STATE: Final = 0x0427
    SAR_MSG_REF_NUM: Final = 0x020C
    SAR_TOTAL_SEGMENTS: Final = 0x020E
    SAR_SEGMENT_SEQNUM: Final = 0x020F


BIND_COMMANDS: Final = frozenset({Cmd.BIND_RECEIVER, Cmd.BIND_TRANSMITTER, Cmd.BIND_TRANSCEIVER})


class PduError(Exception):
    """A PDU could not be decoded; `status` is the command_status to answer with."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"0x{status:08X}: {detail}")


@dataclass(slots=True)
class Bind:
    """Body of bind_transmitter / bind_receiver / bind_transceiver, SMPP 3.4 §4.1.1."""

    system_id: str
    password: str
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(slots=True)
class BindResp:
    """Body of bind_*_resp, SMPP 3.4 §4.1.2 (sc_interface_version TLV §5.3.2.25)."""

    system_id: str
    tlvs: dict[int, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class ShortMessage:
    """Body shared by submit_sm (SMPP 3.4 §4.4.1) and deliver_sm (§4.6.1)."""

    source_addr: str
    destination_addr: str
    short_message: bytes = b""
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    tlvs: dict[int, bytes] = field(default_factory=dict)


@dataclass(slots=True)
class MessageIdResp:
    """Body of submit_sm_resp (SMPP 3.4 §4.4.2) and deliver_sm_resp (§4.6.2, message_id unused)."""

    message_id: str = ""


Body = Bind | BindResp | ShortMessage | MessageIdResp | None


@dataclass(slots=True)
class Pdu:
    """One decoded PDU: the header fields and a typed body (None for header-only PDUs)."""

    command_id: int
    sequence: int
    status: int = CommandStatus.ESME_ROK
    body: Body = None


# --- decoding -----------------------------------------------------------------------------


def _cstr(data: bytes, pos: int, limit: int, name: str) -> tuple[str, int]:
    """A C-Octet String (SMPP 3.4 §3.1) of at most `limit` octets including its NUL."""
    end = data.find(_NUL, pos, pos + limit)
    if end < 0:
        raise PduError(CommandStatus.ESME_RINVCMDLEN, f"{name}: no NUL within {limit} octets")
    return data[pos:end].decode("latin-1"), end + 1


def _u8(data: bytes, pos: int, name: str) -> int:
    if pos >= len(data):
        raise PduError(CommandStatus.ESME_RINVCMDLEN, f"{name}: body too short")
    return data[pos]


def decode_tlvs(data: bytes, pos: int) -> dict[int, bytes]:
    """Optional parameters from `pos` to the end, SMPP 3.4 §3.2.3 (tag, length, value)."""
    tlvs: dict[int, bytes] = {}
    end = len(data)
    while pos < end:
        if pos + 4 > end:
            raise PduError(CommandStatus.ESME_RINVCMDLEN, "truncated TLV header")
        tag, length = _TLV_HEADER.unpack_from(data, pos)
        pos += 4
        if pos + length > end:
            raise PduError(CommandStatus.ESME_RINVCMDLEN, f"TLV 0x{tag:04X} runs past the PDU")
        tlvs[tag] = data[pos : pos + length]
        pos += length
    return tlvs


def _decode_bind(data: bytes) -> Bind:
    pos = HEADER_SIZE
    system_id, pos = _cstr(data, pos, 16, "system_id")
    password, pos = _cstr(data, pos, 9, "password")
    system_type, pos = _cstr(data, pos, 13, "system_type")
    if pos + 3 > len(data):
        raise PduError(CommandStatus.ESME_RINVCMDLEN, "bind body too short")
    version, ton, npi = _U8X3.unpack_from(data, pos)
    address_range, pos = _cstr(data, pos + 3, 41, "address_range")
    return Bind(system_id, password, system_type, version, ton, npi, address_range)


def _decode_bind_resp(data: bytes) -> BindResp:
    if len(data) == HEADER_SIZE:  # §4.1.2: no body when command_status is non-zero
        return BindResp("")
    system_id, pos = _cstr(data, HEADER_SIZE, 16, "system_id")
    return BindResp(system_id, decode_tlvs(data, pos))


def _decode_short_message(data: bytes) -> ShortMessage:
    pos = HEADER_SIZE
    service_type, pos = _cstr(data, pos, 6, "service_type")
    src_ton = _u8(data, pos, "source_addr_ton")
    src_npi = _u8(data, pos + 1, "source_addr_npi")
    source, pos = _cstr(data, pos + 2, 21, "source_addr")
    dst_ton = _u8(data, pos, "dest_addr_ton")
    dst_npi = _u8(data, pos + 1, "dest_addr_npi")
    destination, pos = _cstr(data, pos + 2, 21, "destination_addr")
    if pos + 3 > len(data):
        raise PduError(CommandStatus.ESME_RINVCMDLEN, "body too short after destination_addr")
    esm_class, protocol_id, priority = _U8X3.unpack_from(data, pos)
    schedule, pos = _cstr(data, pos + 3, 17, "schedule_delivery_time")
    validity, pos = _cstr(data, pos, 17, "validity_period")
    if pos + 5 > len(data):
        raise PduError(CommandStatus.ESME_RINVCMDLEN, "body too short after validity_period")
    registered, replace, coding, default_id = _U8X4.unpack_from(data, pos)
    sm_length = data[pos + 4]
    pos += 5
    if pos + sm_length > len(data):
        # §4.4.1: sm_length says how many octets follow; a shorter PDU is a length error.
        raise PduError(CommandStatus.ESME_RINVMSGLEN, "short_message runs past the PDU")
    message = data[pos : pos + sm_length]
    tlvs = decode_tlvs(data, pos + sm_length) if pos + sm_length < len(data) else {}
    return ShortMessage(
        source,
        destination,
        message,
        service_type,
        src_ton,
        src_npi,
        dst_ton,
        dst_npi,
        esm_class,
        protocol_id,
        priority,
        schedule,
        validity,
        registered,
        replace,
        coding,
        default_id,
        tlvs,
    )


def _decode_message_id_resp(data: bytes) -> MessageIdResp:
    if len(data) == HEADER_SIZE:  # §4.4.2: no body when command_status is non-zero
        return MessageIdResp("")
    message_id, _ = _cstr(data, HEADER_SIZE, 65, "message_id")
    return MessageIdResp(message_id)


def _decode_empty(data: bytes) -> None:
    return None


_DECODERS: Final[dict[int, Callable[[bytes], Body]]] = {
    Cmd.BIND_RECEIVER: _decode_bind,
    Cmd.BIND_TRANSMITTER: _decode_bind,
    Cmd.BIND_TRANSCEIVER: _decode_bind,
    Cmd.BIND_RECEIVER_RESP: _decode_bind_resp,
    Cmd.BIND_TRANSMITTER_RESP: _decode_bind_resp,
    Cmd.BIND_TRANSCEIVER_RESP: _decode_bind_resp,
    Cmd.SUBMIT_SM: _decode_short_message,
    Cmd.DELIVER_SM: _decode_short_message,
    Cmd.SUBMIT_SM_RESP: _decode_message_id_resp,
    Cmd.DELIVER_SM_RESP: _decode_message_id_resp,
    Cmd.ENQUIRE_LINK: _decode_empty,
    Cmd.ENQUIRE_LINK_RESP: _decode_empty,
    Cmd.UNBIND: _decode_empty,
    Cmd.UNBIND_RESP: _decode_empty,
    Cmd.GENERIC_NACK: _decode_empty,
}

KNOWN_COMMANDS: Final = frozenset(_DECODERS)


def decode(frame: bytes) -> Pdu:
    """Decode one whole PDU (header included).

    Raises:
        PduError: ESME_RINVCMDLEN for a bad length, ESME_RINVCMDID for an unknown command,
            ESME_RINVMSGLEN when sm_length disagrees with the PDU.
    """
    if len(frame) < HEADER_SIZE:
        raise PduError(CommandStatus.ESME_RINVCMDLEN, "shorter than the 16-octet header")
    length, command_id, status, sequence = HEADER.unpack_from(frame)
    if length != len(frame):
        raise PduError(
            CommandStatus.ESME_RINVCMDLEN, f"command_length {length} != {len(frame)} octets"
        )
    decoder = _DECODERS.get(command_id)
    if decoder is None:
        raise PduError(CommandStatus.ESME_RINVCMDID, f"unknown command_id 0x{command_id:08X}")
    return Pdu(command_id, sequence, status, decoder(frame))


# --- encoding -----------------------------------------------------------------------------


def _c(text: str) -> bytes:
    return text.encode("latin-1") + _NUL


def encode_tlvs(tlvs: dict[int, bytes]) -> bytes:
    """TLVs in insertion order, SMPP 3.4 §3.2.3."""
    return b"".join(_TLV_HEADER.pack(tag, len(value)) + value for tag, value in tlvs.items())


def _encode_body(body: Body) -> bytes:
    if body is None:
        return b""
    if isinstance(body, MessageIdResp):
        return _c(body.message_id)
    if isinstance(body, ShortMessage):
        return b"".join(
            (
                _c(body.service_type),
                bytes((body.source_addr_ton, body.source_addr_npi)),
                _c(body.source_addr),
                bytes((body.dest_addr_ton, body.dest_addr_npi)),
                _c(body.destination_addr),
                bytes((body.esm_class, body.protocol_id, body.priority_flag)),
                _c(body.schedule_delivery_time),
                _c(body.validity_period),
                bytes(
                    (
                        body.registered_delivery,
                        body.replace_if_present_flag,
                        body.data_coding,
                        body.sm_default_msg_id,
                        len(body.short_message),
                    )
                ),
                body.short_message,
                encode_tlvs(body.tlvs),
            )
        )
    if isinstance(body, Bind):
        return b"".join(
            (
                _c(body.system_id),
                _c(body.password),
                _c(body.system_type),
                bytes((body.interface_version, body.addr_ton, body.addr_npi)),
                _c(body.address_range),
            )
        )
    return _c(body.system_id) + encode_tlvs(body.tlvs)


def encode(pdu: Pdu) -> bytes:
    """Encode a PDU, computing command_length."""
    body = _encode_body(pdu.body)
    return HEADER.pack(HEADER_SIZE + len(body), pdu.command_id, pdu.status, pdu.sequence) + body


def header_only(command_id: int, status: int, sequence: int) -> bytes:
    """A body-less PDU: enquire_link(_resp), unbind(_resp), generic_nack, error responses."""
    return HEADER.pack(HEADER_SIZE, command_id, status, sequence)


def message_id_resp(command_id: int, sequence: int, message_id: bytes) -> bytes:
    """submit_sm_resp / deliver_sm_resp with status ESME_ROK; the hot path, one pack."""
    length = HEADER_SIZE + len(message_id) + 1
    return HEADER.pack(length, command_id, 0, sequence) + message_id + _NUL


# --- framing ------------------------------------------------------------------------------


def split_frames(buffer: bytearray) -> tuple[list[bytes], int | None]:
    """Cut whole PDUs off the front of `buffer` (in place).

    Returns:
        The whole frames, and the bad command_length if framing broke (the rest of the
        stream cannot be trusted then, SMPP 3.4 §3.2 gives no resynchronisation), else None.
    """
    frames: list[bytes] = []
    pos = 0
    available = len(buffer)
    bad: int | None = None
    while available - pos >= 4:
        (length,) = struct.unpack_from(">I", buffer, pos)
        if length < HEADER_SIZE or length > MAX_PDU_SIZE:
            bad = length
            break
        if available - pos < length:
            break
        frames.append(bytes(buffer[pos : pos + length]))
        pos += length
    del buffer[:pos]
    return frames, bad
