"""A segmented text → the `submit_sm` parts that carry it (3GPP TS 23.040 concatenation)."""

from __future__ import annotations

import hashlib

from carriers.smpp.types import ESM_CLASS_UDHI, SubmitPart
from messaging.encoding import Segmentation, encode
from messaging.errors import InvalidInput
from messaging.types import Encoding

# SMPP 3.4 §5.2.19 data_coding: 0 = SMSC default alphabet (GSM-7 here), 8 = UCS-2.
DATA_CODING: dict[Encoding, int] = {Encoding.GSM7: 0x00, Encoding.UCS2: 0x08}

# 3GPP TS 23.040 §9.2.3.24.1: IEI 0x00, concatenated SMS with an 8-bit reference. Its 6-octet
# UDH leaves the 153 GSM-7 septets / 67 UCS-2 characters per part that messaging.segment
# counts (and that clients are billed for); the 16-bit form (IEI 0x08) would leave 152 / 66.
IEI_CONCAT_8BIT = 0x00
MAX_PARTS = 255  # one octet counts the parts
MAX_REFERENCE = 0xFF


def concat_udh(reference: int, total: int, number: int) -> bytes:
    """The 6-octet UDH: UDHL 5, IEI 0x00, IEDL 3, 8-bit reference, total, part number (1-based)."""
    return bytes((5, IEI_CONCAT_8BIT, 3, reference, total, number))


def reference_for(message_id: str) -> int:
    """A stable 8-bit concatenation reference derived from the message id.

    Stable so a re-submitted message (at-least-once) reuses its reference and the handset
    still joins the parts; derived from the id (not smpplib's random byte) so it never
    changes between attempts. Only two multipart messages to the same handset in flight
    together can share one (1 in 256).
    """
    digest = hashlib.blake2b(message_id.encode(), digest_size=1).digest()
    return digest[0]


def build_parts(
    source: str, destination: str, seg: Segmentation, reference: int
) -> list[SubmitPart]:
    """One SubmitPart per segment; more than one gets the 8-bit concatenation UDH.

    Raises:
        InvalidInput: more than 255 parts, or a reference outside 0..255.
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
