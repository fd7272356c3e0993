"""A segmented text → the `submit_sm` parts that carry it (3GPP TS 23.040 concatenation)."""

from __future__ import annotations

import hashlib

from carriers.smpp.types import ESM_CLASS_UDHI, SubmitPart
from messaging.encoding import Segmentation, encode
from messaging.errors import InvalidInput
from messaging.types import Encoding

# SMPP 3.4 §5.2.19 data_coding: 0 = SMSC default alphabet (GSM-7 here), 8 = UCS-2.
DATA_CODING: dict[Encoding, int] = {Encoding.GSM7: 0x00, Encoding.UCS2: 0x08}

# 3GPP TS 23.040 §9.2.3.24.8: IEI 0x08, concatenated SMS with a 16-bit reference.
IEI_CONCAT_16BIT = 0x08
MAX_PARTS = 255  # one octet counts the parts
MAX_REFERENCE = 0xFFFF


def concat_udh(reference: int, total: int, number: int) -> bytes:
    """The 7-octet UDH: UDHL 6, IEI 0x08, IEDL 4, 16-bit reference, total, part number (1-based)."""
    return bytes((6, IEI_CONCAT_16BIT, 4, reference >> 8, reference & 0xFF, total, number))


def reference_for(message_id: str) -> int:
    """A stable 16-bit concatenation reference derived from the message id.

    Stable so a re-submitted message (at-least-once) reuses its reference and the handset
    still joins the parts; derived rather than random so two messages rarely share one.
    """
    digest = hashlib.blake2b(message_id.encode(), digest_size=2).digest()
    return int.from_bytes(digest, "big")


def build_parts(
    source: str, destination: str, seg: Segmentation, reference: int
) -> list[SubmitPart]:
    """One SubmitPart per segment; more than one gets the 16-bit concatenation UDH.

    Raises:
        InvalidInput: more than 255 parts, or a reference outside 0..65535.
    """
    if not 0 <= reference <= MAX_REFERENCE:
        raise InvalidInput("reference", f"{reference} is outside 0..{MAX_REFERENCE}")
    total = seg.segments
    if total > MAX_PARTS:
        raise InvalidInput("text", f"{total} parts, at most {MAX_PARTS}")
    coding = DATA_CODING[seg.encoding]
    if total == 1:
        body = encode(seg.parts[0], seg.encoding)
        return [SubmitPart(source, destination, body, coding)]
    return [
        SubmitPart(
            source,
            destination,
            concat_udh(reference, total, number) + encode(text, seg.encoding),
            coding,
            esm_class=ESM_CLASS_UDHI,
        )
        for number, text in enumerate(seg.parts, start=1)
    ]
