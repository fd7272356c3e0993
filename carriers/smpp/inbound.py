"""What a carrier's deliver_sm is (pure): a delivery receipt or a mobile-originated message."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from carriers.smpp.codec import Pdu
from carriers.smpp.types import ESM_CLASS_UDHI, Mo
from messaging import ConcatRef
from messaging.encoding import decode_gsm7

# SMPP 3.4 §5.2.12 esm_class bits 5-2: the message type.
ESM_MESSAGE_TYPE_MASK = 0x3C
# 0001 = SMSC delivery receipt; 1000 = intermediate delivery notification (same content).
RECEIPT_MESSAGE_TYPES = frozenset({0x04, 0x20})


def is_receipt(pdu: Pdu) -> bool:
    """True when the deliver_sm's esm_class says it carries a delivery receipt."""
    return ((pdu.integer("esm_class") or 0) & ESM_MESSAGE_TYPE_MASK) in RECEIPT_MESSAGE_TYPES


def _ucs2(body: bytes) -> str:
    return body.decode("utf-16-be", errors="replace")


def _latin1(body: bytes) -> str:
    return body.decode("latin-1")


# SMPP 3.4 §5.2.19 data_coding → decoder; anything else is shown octet for octet.
MO_DECODERS: Mapping[int, Callable[[bytes], str]] = {0x00: decode_gsm7, 0x08: _ucs2}


# 3GPP TS 23.040 §9.2.3.24.1 (8-bit reference) and §9.2.3.24.8 (16-bit reference).
IEI_CONCAT_8BIT, IEI_CONCAT_16BIT = 0x00, 0x08


def concat_ref(udh: bytes) -> ConcatRef | None:
    """The concatenation element of a UDH (its UDHL octet excluded), or None.

    A malformed element (truncated, part 0, part past the total) is not concatenation: the
    part is then kept as a message of its own rather than waiting for parts that cannot come.
    """
    pos = 0
    while pos + 2 <= len(udh):
        iei, length = udh[pos], udh[pos + 1]
        data = udh[pos + 2 : pos + 2 + length]
        pos += 2 + length
        if len(data) != length:
            return None
        if iei == IEI_CONCAT_8BIT and length == 3:
            reference, total, number = data[0], data[1], data[2]
        elif iei == IEI_CONCAT_16BIT and length == 4:
            reference, total, number = (data[0] << 8) | data[1], data[2], data[3]
        else:
            continue
        if total < 1 or not 1 <= number <= total:
            return None
        return ConcatRef(reference, total, number)
    return None


def _split_udh(pdu: Pdu) -> tuple[bytes, bytes]:
    """(UDH without its length octet, user data) of an MO; no UDH unless esm_class says so."""
    body = pdu.octets("short_message") or pdu.octets("message_payload")
    if (pdu.integer("esm_class") or 0) & ESM_CLASS_UDHI and body:
        end = 1 + body[0]  # UDHL counts the octets after itself (TS 23.040 §9.2.3.24)
        return body[1:end], body[end:]
    return b"", body


def mo_text(pdu: Pdu) -> str:
    """The text of an MO deliver_sm, UDH skipped, decoded by data_coding.

    SMPP carries GSM-7 one septet per octet (unpacked), so a UDH needs no fill bits here.
    """
    _, body = _split_udh(pdu)
    return MO_DECODERS.get(pdu.integer("data_coding") or 0, _latin1)(body)


def to_mo(pdu: Pdu) -> Mo:
    """The MO message (or one part of it) a non-receipt deliver_sm carries."""
    udh, _ = _split_udh(pdu)
    part = concat_ref(udh) if udh else None
    return Mo(pdu.text("source_addr"), pdu.text("destination_addr"), mo_text(pdu), part)
