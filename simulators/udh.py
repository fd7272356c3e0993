"""Concatenation info of a submit_sm: the UDH IE or the sar_* TLVs (pure)."""

from __future__ import annotations

from typing import Final

from simulators.pdu import ShortMessage, Tag

ESM_UDHI: Final = 0x40  # SMPP 3.4 §5.2.12: bit 6 → short_message starts with a UDH
_IEI_CONCAT_8: Final = 0x00  # 3GPP TS 23.040 §9.2.3.24.1: 8-bit reference
_IEI_CONCAT_16: Final = 0x08  # 3GPP TS 23.040 §9.2.3.24.8: 16-bit reference

Concat = tuple[int, int, int]  # (reference, total, sequence)


def _from_udh(data: bytes) -> Concat | None:
    if not data:
        return None
    end = min(len(data), 1 + data[0])
    pos = 1
    while pos + 2 <= end:
        iei, length = data[pos], data[pos + 1]
        value = data[pos + 2 : pos + 2 + length]
        if len(value) != length:
            return None
        if iei == _IEI_CONCAT_8 and length == 3:
            return value[0], value[1], value[2]
        if iei == _IEI_CONCAT_16 and length == 4:
            return (value[0] << 8) | value[1], value[2], value[3]
        pos += 2 + length
    return None


def concatenation(message: ShortMessage) -> Concat | None:
    """(reference, total, sequence) when the message is one part of a concatenated SMS."""
    if message.esm_class & ESM_UDHI:
        return _from_udh(message.short_message)
    tlvs = message.tlvs
    ref = tlvs.get(Tag.SAR_MSG_REF_NUM)  # SMPP 3.4 §5.3.2.22-24: the TLV way of saying it
    total = tlvs.get(Tag.SAR_TOTAL_SEGMENTS)
    seq = tlvs.get(Tag.SAR_SEGMENT_SEQNUM)
    if ref and total and seq:
        return int.from_bytes(ref, "big"), total[0], seq[0]
    return None
