"""PDU bytes ⇄ our frozen `Pdu`: the only module that imports smpplib.

smpplib builds and parses the PDU bodies; everything around that is ours: framing off the
stream (the 4-byte command_length prefix, SMPP 3.4 §3.2), explicit sequence numbers, and
turning smpplib's exceptions (and its `Any`) into our error tree and typed values.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import smpplib.command
import smpplib.command_codes
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp
from smpplib.ptypes import ostr

from carriers.smpp.types import Endpoint, SubmitPart
from messaging.errors import CarrierSystemError, InvalidInput

HEADER = struct.Struct(">IIII")
HEADER_LENGTH = HEADER.size
# SMPP 3.4 §3.2 sets no upper bound; the largest legal PDU (submit_multi with 255
# destinations and a full message_payload) stays well under 64 KiB, so more is a broken stream.
MAX_PDU_LENGTH = 65536
MAX_SHORT_MESSAGE = 254  # SMPP 3.4 §5.2.21: sm_length is one octet, 0..254
MAX_SEQUENCE = 0x7FFFFFFF  # SMPP 3.4 §5.1.4: 0x00000001..0x7FFFFFFF

ESME_ROK = 0x00
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03

# bind_*, submit_sm, deliver_sm… answers have bit 31 set (SMPP 3.4 §5.1.2).
RESPONSE_BIT = 0x80000000


@dataclass(frozen=True)
class Header:
    """The 16-octet PDU header (SMPP 3.4 §3.2)."""

    length: int
    command_id: int
    status: int
    sequence: int

    @property
    def is_response(self) -> bool:
        """True for *_resp and generic_nack."""
        return bool(self.command_id & RESPONSE_BIT)


@dataclass(frozen=True)
class Pdu:
    """A decoded PDU: C-octet strings as `str`, octet strings as `bytes`, integers as `int`."""

    command: str
    status: int
    sequence: int
    fields: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_response(self) -> bool:
        """True for *_resp and generic_nack."""
        return self.command.endswith("_resp") or self.command == "generic_nack"

    def text(self, name: str, default: str = "") -> str:
        """A C-octet string field, or `default` when absent."""
        value = self.fields.get(name)
        return value if isinstance(value, str) else default

    def integer(self, name: str) -> int | None:
        """An integer field, or None when absent."""
        value = self.fields.get(name)
        return value if isinstance(value, int) else None

    def octets(self, name: str) -> bytes:
        """An octet-string field (e.g. short_message), empty when absent."""
        value = self.fields.get(name)
        return value if isinstance(value, bytes) else b""


def known_statuses() -> Mapping[str, int]:
    """Every `ESME_*` command_status smpplib knows, by name (for the status-table check)."""
    prefix = "SMPP_ESME_"
    return {
        name.removeprefix("SMPP_"): int(value)
        for name, value in vars(smpplib.consts).items()
        if name.startswith(prefix) and isinstance(value, int)
    }


def known_commands() -> Mapping[str, int]:
    """Every command smpplib knows (SMPP 3.4 §5.1.2), name → command_id."""
    return dict(smpplib.command_codes.commands)


def peek_header(frame: bytes) -> Header:
    """The header of a frame, without parsing the body.

    Raises:
        CarrierSystemError: fewer than 16 octets (status ESME_RINVCMDLEN).
    """
    if len(frame) < HEADER_LENGTH:
        raise CarrierSystemError(ESME_RINVCMDLEN, f"PDU of {len(frame)} octets has no header")
    return Header(*HEADER.unpack_from(frame))


def encode(
    command: str, sequence: int, status: int = ESME_ROK, fields: Mapping[str, object] | None = None
) -> bytes:
    """Serialise one PDU with an explicit sequence number.

    Raises:
        InvalidInput: unknown command or field, or a value smpplib cannot encode.
    """
    if not 0 <= sequence <= MAX_SEQUENCE:
        raise InvalidInput("sequence", f"{sequence} is outside 0..0x7FFFFFFF")
    values = dict(fields or {})
    try:
        pdu = smpplib.smpp.make_pdu(command, client=None, sequence=sequence, status=status)
        unknown = set(values) - set(pdu.params)
        if unknown:
            raise InvalidInput(command, f"unknown fields {sorted(unknown)}")
        for name, value in values.items():
            setattr(pdu, name, value)
        # smpplib's Command ignores an explicit `sequence` kwarg when its dummy client's
        # counter is 0, so set it after construction.
        pdu.sequence = sequence
        pdu.status = status
        return bytes(pdu.generate())
    except InvalidInput:
        raise
    except (
        smpplib.exceptions.UnknownCommandError,
        smpplib.exceptions.PDUError,
        struct.error,
        TypeError,
        ValueError,  # includes UnicodeEncodeError
        AttributeError,
    ) as exc:
        raise InvalidInput(command, f"cannot encode: {exc}") from exc


def _typed(params: Mapping[str, object], name: str, value: object) -> object:
    param = params.get(name)
    if isinstance(value, bytes) and getattr(param, "type", None) is not ostr:
        # C-octet strings are ASCII by SMPP 3.4 §3.1; latin-1 never fails and keeps every octet.
        return value.decode("latin-1")
    return value


def decode(frame: bytes) -> Pdu:
    """Parse one whole frame (header included).

    Raises:
        CarrierSystemError: with status ESME_RINVCMDID for a command we do not know and
            ESME_RINVCMDLEN for a length or body that does not parse (the statuses a
            generic_nack answers with, SMPP 3.4 §4.3.1).
    """
    header = peek_header(frame)
    if header.length != len(frame):
        raise CarrierSystemError(
            ESME_RINVCMDLEN, f"command_length {header.length} but frame has {len(frame)} octets"
        )
    fast = _FAST_DECODERS.get(header.command_id)
    if fast is not None:
        fields = fast(frame)
        if fields is not None:
            return Pdu(_FAST_NAMES[header.command_id], header.status, header.sequence, fields)
    return _smpplib_decode(frame, header)


def decode_generic(frame: bytes) -> Pdu:
    """`decode` by smpplib alone, without the fast paths (what they are checked against)."""
    header = peek_header(frame)
    if header.length != len(frame):
        raise CarrierSystemError(
            ESME_RINVCMDLEN, f"command_length {header.length} but frame has {len(frame)} octets"
        )
    return _smpplib_decode(frame, header)


def _smpplib_decode(frame: bytes, header: Header) -> Pdu:
    try:
        pdu = smpplib.smpp.parse_pdu(
            frame, client=None, sequence=header.sequence, allow_unknown_opt_params=True
        )
    except smpplib.exceptions.UnknownCommandError as exc:
        raise CarrierSystemError(ESME_RINVCMDID, str(exc)) from exc
    except (
        smpplib.exceptions.PDUError,
        struct.error,
        IndexError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
    ) as exc:
        raise CarrierSystemError(ESME_RINVCMDLEN, f"malformed body: {exc!r}") from exc
    if pdu is None:
        raise CarrierSystemError(ESME_RINVCMDID, f"unknown command_id 0x{header.command_id:08X}")
    params: Mapping[str, object] = pdu.params
    values = {
        name: _typed(params, name, getattr(pdu, name, None))
        for name in pdu.params_order
        if getattr(pdu, name, None) is not None
    }
    return Pdu(
        command=str(pdu.command),
        status=header.status,
        sequence=header.sequence,
        fields=MappingProxyType(values),
    )


# --- fast paths for the PDUs of every message -------------------------------------------------
#
# smpplib's generic encoder and parser cost about a fifth of a send worker's CPU at load. The
# three PDUs every message costs (submit_sm out, submit_sm_resp and deliver_sm in) and the
# body-less answers are built and read here with struct, byte for byte as smpplib does
# (tests/unit/carriers/test_codec_fast.py checks it with hypothesis against smpplib). Anything
# unusual — a missing NUL, a truncated body, a TLV we do not read — returns None, and smpplib
# decides, errors included.

_SUBMIT_SM_RESP = 0x80000004
_DELIVER_SM = 0x00000005
_DELIVER_SM_MANDATORY_INTS = 3  # (esm_class, protocol_id, priority_flag)
_TLV = struct.Struct(">HH")
# TLVs a receipt carries (SMPP 3.4 §5.3.2): tag → (field, kind); kind 1 is a one-octet integer.
_FAST_TLVS: dict[int, tuple[str, str]] = {
    0x001E: ("receipted_message_id", "cstr"),
    0x0427: ("message_state", "int1"),
    0x0423: ("network_error_code", "octets"),
}
_DELIVER_SM_ORDER = (
    "service_type",
    "source_addr_ton",
    "source_addr_npi",
    "source_addr",
    "dest_addr_ton",
    "dest_addr_npi",
    "destination_addr",
    "esm_class",
    "protocol_id",
    "priority_flag",
    "schedule_delivery_time",
    "validity_period",
    "registered_delivery",
    "replace_if_present_flag",
    "data_coding",
    "sm_default_msg_id",
    "sm_length",
    "short_message",
)


def _cstring(frame: bytes, pos: int) -> tuple[str, int] | None:
    end = frame.find(b"\0", pos)
    if end < 0:
        return None
    return frame[pos:end].decode("latin-1"), end + 1


def _fast_submit_sm_resp(frame: bytes) -> Mapping[str, object] | None:
    if len(frame) == HEADER_LENGTH:
        return MappingProxyType({})
    if frame.find(b"\0", HEADER_LENGTH) != len(frame) - 1:
        return None  # trailing octets, or no NUL: smpplib decides
    return MappingProxyType({"message_id": frame[HEADER_LENGTH:-1].decode("latin-1")})


def _fast_deliver_sm(frame: bytes) -> Mapping[str, object] | None:
    n = len(frame)
    got = _cstring(frame, HEADER_LENGTH)
    if got is None or got[1] + 2 > n:
        return None
    service_type, pos = got
    source_ton, source_npi = frame[pos], frame[pos + 1]
    got = _cstring(frame, pos + 2)
    if got is None or got[1] + 2 > n:
        return None
    source, pos = got
    dest_ton, dest_npi = frame[pos], frame[pos + 1]
    got = _cstring(frame, pos + 2)
    if got is None or got[1] + 3 >= n:
        return None
    destination, pos = got
    esm_class, protocol_id, priority = frame[pos], frame[pos + 1], frame[pos + 2]
    got = _cstring(frame, pos + 3)
    if got is None or got[1] >= n:
        return None
    schedule, pos = got
    got = _cstring(frame, pos)
    if got is None or got[1] + 5 > n:
        return None
    validity, pos = got
    registered, replace_flag, coding, default_id, sm_length = frame[pos : pos + 5]
    pos += 5
    if pos + sm_length > n:
        return None
    short_message = frame[pos : pos + sm_length]
    pos += sm_length
    values: dict[str, object] = dict(
        zip(
            _DELIVER_SM_ORDER,
            (
                service_type,
                source_ton,
                source_npi,
                source,
                dest_ton,
                dest_npi,
                destination,
                esm_class,
                protocol_id,
                priority,
                schedule,
                validity,
                registered,
                replace_flag,
                coding,
                default_id,
                sm_length,
            ),
            strict=False,
        )
    )
    if sm_length or pos < n:
        values["short_message"] = short_message  # smpplib stops at the end of the body
    while pos < n:
        if pos + 4 > n:
            return None
        tag, length = _TLV.unpack_from(frame, pos)
        pos += 4
        known = _FAST_TLVS.get(tag)
        if known is None or pos + length > n:
            return None
        name, kind = known
        if kind == "int1":
            if length != 1:
                return None
            values[name] = frame[pos]
        elif kind == "cstr":
            if length == 0:
                return None
            values[name] = frame[pos : pos + length - 1].decode("latin-1")
        else:
            values[name] = frame[pos : pos + length]
        pos += length
    return MappingProxyType(values)


_FAST_DECODERS = {_SUBMIT_SM_RESP: _fast_submit_sm_resp, _DELIVER_SM: _fast_deliver_sm}
_FAST_NAMES = {_SUBMIT_SM_RESP: "submit_sm_resp", _DELIVER_SM: "deliver_sm"}
_ADDRESS_MAX = 20  # smpplib cuts source_addr / destination_addr (max 21 with the NUL) to 20


def _fast_submit_sm(sequence: int, part: SubmitPart) -> bytes | None:
    ints = (
        part.source_ton,
        part.source_npi,
        part.dest_ton,
        part.dest_npi,
        part.esm_class,
        part.registered_delivery,
        part.data_coding,
    )
    if not (part.source.isascii() and part.destination.isascii()):
        return None
    if any(not 0 <= v <= 0xFF for v in ints) or not 0 <= sequence <= MAX_SEQUENCE:
        return None
    body = b"".join(
        (
            b"\0",  # service_type
            bytes((part.source_ton, part.source_npi)),
            part.source[:_ADDRESS_MAX].encode("ascii"),
            b"\0",
            bytes((part.dest_ton, part.dest_npi)),
            part.destination[:_ADDRESS_MAX].encode("ascii"),
            b"\0",
            bytes((part.esm_class, 0, 0)),  # protocol_id, priority_flag
            b"\0\0",  # schedule_delivery_time, validity_period
            bytes((part.registered_delivery, 0, part.data_coding, 0, len(part.short_message))),
            part.short_message,
        )
    )
    return HEADER.pack(HEADER_LENGTH + len(body), 0x00000004, ESME_ROK, sequence) + body


_RESPONSE_TEMPLATES: dict[tuple[str, int], bytes] = {}


class FrameBuffer:
    """Cuts a TCP byte stream into whole PDUs by their command_length (SMPP 3.4 §3.2)."""

    def __init__(self, max_length: int = MAX_PDU_LENGTH) -> None:
        self._buffer = bytearray()
        self._max_length = max_length

    def feed(self, data: bytes) -> list[bytes]:
        """Add received octets; return every frame now complete, in order.

        Raises:
            CarrierSystemError: a command_length below 16 or above the maximum
                (ESME_RINVCMDLEN); the stream cannot be resynchronised after that.
        """
        self._buffer += data
        frames: list[bytes] = []
        while len(self._buffer) >= 4:
            (length,) = struct.unpack_from(">I", self._buffer)
            if length < HEADER_LENGTH or length > self._max_length:
                raise CarrierSystemError(ESME_RINVCMDLEN, f"command_length {length} out of range")
            if len(self._buffer) < length:
                break
            frames.append(bytes(self._buffer[:length]))
            del self._buffer[:length]
        return frames

    @property
    def pending(self) -> int:
        """Octets received but not yet a whole frame."""
        return len(self._buffer)


# --- the PDUs an ESME sends (SMPP 3.4 §4) ---------------------------------------------------


def bind_transceiver(sequence: int, endpoint: Endpoint) -> bytes:
    """bind_transceiver (SMPP 3.4 §4.1.5), interface_version 0x34."""
    return encode(
        "bind_transceiver",
        sequence,
        fields={
            "system_id": endpoint.system_id,
            "password": endpoint.password,
            "system_type": endpoint.system_type,
        },
    )


def submit_sm(sequence: int, part: SubmitPart) -> bytes:
    """submit_sm (SMPP 3.4 §4.4.1) for one part.

    Raises:
        InvalidInput: short_message longer than 254 octets or a field smpplib cannot encode.
    """
    if len(part.short_message) > MAX_SHORT_MESSAGE:
        raise InvalidInput(
            "short_message", f"{len(part.short_message)} octets, at most {MAX_SHORT_MESSAGE}"
        )
    fast = _fast_submit_sm(sequence, part)
    if fast is not None:
        return fast
    return encode(
        "submit_sm",
        sequence,
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


def response(command: str, sequence: int, status: int = ESME_ROK) -> bytes:
    """A body-less answer: enquire_link_resp, unbind_resp, deliver_sm_resp, generic_nack."""
    template = _RESPONSE_TEMPLATES.get((command, status))
    if template is None:
        template = encode(command, 0, status)  # raises for an unknown command
        _RESPONSE_TEMPLATES[(command, status)] = template
    return with_sequence(template, sequence)


def request(command: str, sequence: int) -> bytes:
    """A body-less request: enquire_link or unbind (SMPP 3.4 §4.11, §4.2)."""
    return encode(command, sequence)


def with_sequence(frame: bytes, sequence: int) -> bytes:
    """`frame` with its sequence_number replaced: encode once, number when the window opens."""
    if not 0 <= sequence <= MAX_SEQUENCE:
        raise InvalidInput("sequence", f"{sequence} is outside 0..0x7FFFFFFF")
    return frame[:12] + sequence.to_bytes(4, "big") + frame[16:]
