"""Delivery receipts the simulated SMSC sends back (pure: the caller passes times and outcomes).

The text follows SMPP 3.4 Appendix B; the TLVs receipted_message_id (§5.3.2.12) and
message_state (§5.3.2.35) carry the same facts in machine form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import ClassVar, Final

from messaging import decode_gsm7
from simulators.pdu import Cmd, Pdu, ShortMessage, Tag

# SMPP 3.4 §5.2.12: esm_class bits 2-5 = 0001 → "SMSC Delivery Receipt".
ESM_DELIVERY_RECEIPT: Final = 0x04
# §5.2.12: bit 6 set → short_message starts with a User Data Header.
ESM_UDHI: Final = 0x40
TEXT_PREVIEW: Final = 20
_ESCAPE: Final = 0x1B
# Unpacked GSM-7 octet → character, for one str.translate instead of a loop per receipt.
_GSM7_TABLE: Final = {i: decode_gsm7(bytes([i])) for i in range(256) if i != _ESCAPE}


@dataclass(frozen=True, slots=True)
class Outcome:
    """A final state: the `stat:` word, the message_state TLV value (§5.2.28) and `dlvrd:`."""

    stat: str
    message_state: int
    delivered: bool


DELIVERED: Final = Outcome("DELIVRD", 2, True)
UNDELIVERABLE: Final = Outcome("UNDELIV", 5, False)
EXPIRED: Final = Outcome("EXPIRED", 3, False)
REJECTED: Final = Outcome("REJECTD", 8, False)
UNKNOWN: Final = Outcome("UNKNOWN", 7, False)


@dataclass(frozen=True, slots=True)
class PendingReceipt:
    """Everything needed to build a receipt for one accepted submit_sm."""

    message_id: str
    source: str
    destination: str
    submitted_at: float  # unix seconds
    short_message: bytes
    esm_class: int
    data_coding: int
    outcome: Outcome
    error: int
    is_receipt: ClassVar[bool] = True

    def to_pdu(self, done_at: float, sequence: int) -> Pdu:
        """The deliver_sm carrying this receipt."""
        return receipt_pdu(self, done_at, sequence)

    @property
    def preview(self) -> str:
        """`text:` of the receipt, decoded only when the receipt is sent."""
        return preview_text(self.short_message, self.esm_class, self.data_coding)


def preview_text(short_message: bytes, esm_class: int, data_coding: int) -> str:
    """The first characters of the message, UDH skipped, decoded by data_coding (§5.2.19)."""
    body = short_message
    if esm_class & ESM_UDHI and body:
        body = body[1 + body[0] :]  # UDHL counts the octets after itself (3GPP TS 23.040 §9.2.3.24)
    if data_coding == 0x08:  # UCS-2
        text = body[: TEXT_PREVIEW * 2].decode("utf-16-be", errors="replace")
    elif data_coding == 0x00:  # SMSC default alphabet: GSM-7, unpacked
        head = body[: TEXT_PREVIEW * 2]
        # An escape means the extension table: let messaging decode it; else one translate.
        text = (
            decode_gsm7(head) if _ESCAPE in head else head.decode("latin-1").translate(_GSM7_TABLE)
        )
    else:
        text = body[: TEXT_PREVIEW * 2].decode("latin-1")
    return text[:TEXT_PREVIEW]


def _stamp(unix: float) -> str:
    """YYMMDDhhmm in UTC, the Appendix B date format."""
    return _stamp_minute(int(unix // 60))


@lru_cache(maxsize=64)
def _stamp_minute(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%y%m%d%H%M")


def render_text(receipt: PendingReceipt, done_at: float) -> str:
    """`id:… sub:001 dlvrd:001 submit date:… done date:… stat:DELIVRD err:000 text:…`."""
    dlvrd = "001" if receipt.outcome.delivered else "000"
    return (
        f"id:{receipt.message_id} sub:001 dlvrd:{dlvrd}"
        f" submit date:{_stamp(receipt.submitted_at)} done date:{_stamp(done_at)}"
        f" stat:{receipt.outcome.stat} err:{receipt.error:03d} text:{receipt.preview}"
    )


def _ascii(text: str) -> bytes:
    """Receipt text as plain ASCII: what SMSCs send with data_coding 0 in practice."""
    if text.isascii() and text.isprintable():
        return text.encode("ascii")
    return "".join(c if " " <= c <= "~" else "?" for c in text).encode("ascii")


def receipt_pdu(receipt: PendingReceipt, done_at: float, sequence: int) -> Pdu:
    """The deliver_sm (§4.6.1) carrying `receipt`: addresses swapped, esm_class 0x04."""
    body = ShortMessage(
        source_addr=receipt.destination,
        destination_addr=receipt.source,
        short_message=_ascii(render_text(receipt, done_at)),
        esm_class=ESM_DELIVERY_RECEIPT,
        tlvs={
            # §5.3.2.12: C-Octet String, so the NUL travels too.
            Tag.RECEIPTED_MESSAGE_ID: receipt.message_id.encode("ascii") + b"\x00",
            Tag.MESSAGE_STATE: bytes((receipt.outcome.message_state,)),
        },
    )
    return Pdu(Cmd.DELIVER_SM, sequence, body=body)
