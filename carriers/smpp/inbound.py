"""What a carrier's deliver_sm is (pure): a delivery receipt or a mobile-originated message."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from carriers.smpp.codec import Pdu
from carriers.smpp.types import ESM_CLASS_UDHI, Mo
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


def mo_text(pdu: Pdu) -> str:
    """The text of an MO deliver_sm, UDH skipped, decoded by data_coding."""
    body = pdu.octets("short_message") or pdu.octets("message_payload")
    if (pdu.integer("esm_class") or 0) & ESM_CLASS_UDHI and body:
        body = body[1 + body[0] :]  # UDHL counts the octets after itself (TS 23.040 §9.2.3.24)
    return MO_DECODERS.get(pdu.integer("data_coding") or 0, _latin1)(body)


def to_mo(pdu: Pdu) -> Mo:
    """The MO message a non-receipt deliver_sm carries."""
    return Mo(pdu.text("source_addr"), pdu.text("destination_addr"), mo_text(pdu))
