"""Delivery receipts (pure): TLVs or the `id:… stat:…` text → `Receipt`; message-id matching.

The text format is SMPP 3.4 Appendix B, which calls itself an example; carriers vary in key
case, date precision (10 or 12 digits) and whether `stat` is abbreviated, so the parser is
lenient where they vary and strict where it matters (`id` and `stat` must be there).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from messaging.errors import InvalidInput
from messaging.types import ReceiptState

# SMPP 3.4 §5.3.2.35 message_state TLV values.
MESSAGE_STATE: Mapping[int, ReceiptState] = {
    1: ReceiptState.ENROUTE,
    2: ReceiptState.DELIVERED,
    3: ReceiptState.EXPIRED,
    4: ReceiptState.DELETED,
    5: ReceiptState.UNDELIVERED,
    6: ReceiptState.ACCEPTED,
    7: ReceiptState.UNKNOWN,
    8: ReceiptState.REJECTED,
}

# SMPP 3.4 Appendix B `stat` values, plus the spelled-out forms some carriers send.
STAT_TEXT: Mapping[str, ReceiptState] = {
    "DELIVRD": ReceiptState.DELIVERED,
    "DELIVERED": ReceiptState.DELIVERED,
    "UNDELIV": ReceiptState.UNDELIVERED,
    "UNDELIVERABLE": ReceiptState.UNDELIVERED,
    "EXPIRED": ReceiptState.EXPIRED,
    "REJECTD": ReceiptState.REJECTED,
    "REJECTED": ReceiptState.REJECTED,
    "DELETED": ReceiptState.DELETED,
    "UNKNOWN": ReceiptState.UNKNOWN,
    "ACCEPTD": ReceiptState.ACCEPTED,
    "ACCEPTED": ReceiptState.ACCEPTED,
    "ENROUTE": ReceiptState.ENROUTE,
}
STAT_RENDER: Mapping[ReceiptState, str] = {
    ReceiptState.DELIVERED: "DELIVRD",
    ReceiptState.UNDELIVERED: "UNDELIV",
    ReceiptState.EXPIRED: "EXPIRED",
    ReceiptState.REJECTED: "REJECTD",
    ReceiptState.DELETED: "DELETED",
    ReceiptState.UNKNOWN: "UNKNOWN",
    ReceiptState.ACCEPTED: "ACCEPTD",
    ReceiptState.ENROUTE: "ENROUTE",
}

_FIELD = re.compile(
    r"(?<![a-z])(?P<key>id|sub|dlvrd|submit date|done date|stat|err|text)\s*:"
    r"(?P<value>.*?)(?=\s+(?:id|sub|dlvrd|submit date|done date|stat|err|text)\s*:|\s*$)",
    re.IGNORECASE | re.DOTALL,
)
_TEXT_KEY = re.compile(r"(?:^|\s)text\s*:", re.IGNORECASE)
MAX_RAW_STAT = 32  # octets of an unknown `stat:` word kept (the column's width)
_MAX_ID_DIGITS = 80  # receipted_message_id is at most 65 octets (SMPP 3.4 §5.3.2.12)


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt: which carrier message, its final (or interim) state, and when."""

    carrier_message_id: str
    state: ReceiptState
    error_code: str = ""
    submitted_at: datetime | None = None
    done_at: datetime | None = None
    # The `stat:` word as sent when it is none we know (then `state` is UNDELIVERED): kept so
    # an operator sees what the carrier said.
    raw_stat: str = ""


def _parse_date(value: str | None) -> datetime | None:
    # Appendix B: YYMMDDhhmm; many carriers add ss. The carrier's local time, as sent; a
    # two-digit year is this century (strptime would put 69..99 in the 1900s).
    if not value:
        return None
    digits = value.strip()
    if len(digits) not in (10, 12) or not (digits.isdigit() and digits.isascii()):
        raise InvalidInput("receipt", f"date {value!r} is not YYMMDDhhmm[ss]")
    numbers = [int(digits[i : i + 2]) for i in range(0, len(digits), 2)]
    year, month, day, hour, minute = numbers[:5]
    second = numbers[5] if len(numbers) == 6 else 0
    try:
        return datetime(2000 + year, month, day, hour, minute, second)
    except ValueError as exc:
        raise InvalidInput("receipt", f"date {value!r}: {exc}") from exc


def _render_date(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.strftime("%y%m%d%H%M%S" if value.second else "%y%m%d%H%M")


def parse_receipt_fields(text: str) -> dict[str, str]:
    """The `key:value` pairs of an Appendix B receipt text, keys lower-cased."""
    # `text:` comes last and quotes the message, which may itself contain "stat:" and such.
    text_key = _TEXT_KEY.search(text)
    head = text[: text_key.start()] if text_key else text
    fields = {m.group("key").lower(): m.group("value").strip() for m in _FIELD.finditer(head)}
    if text_key:
        fields["text"] = text[text_key.end() :]
    return fields


def parse_receipt(short_message: bytes, tlvs: Mapping[str, object] | None = None) -> Receipt:
    """A receipt from a deliver_sm: TLVs `receipted_message_id` + `message_state` win, else text.

    Raises:
        InvalidInput: neither the TLVs nor the text name the message id and its state.
    """
    tlvs = tlvs or {}
    fields = parse_receipt_fields(short_message.decode("latin-1"))
    tlv_id, tlv_state = tlvs.get("receipted_message_id"), tlvs.get("message_state")
    if isinstance(tlv_id, bytes):
        tlv_id = tlv_id.decode("latin-1")
    message_id = tlv_id.strip("\x00 ") if isinstance(tlv_id, str) and tlv_id.strip() else None
    message_id = message_id or fields.get("id")
    if not message_id:
        raise InvalidInput("receipt", "no receipted_message_id TLV and no id: in the text")
    raw_stat = ""
    if isinstance(tlv_state, int) and tlv_state in MESSAGE_STATE:
        state = MESSAGE_STATE[tlv_state]  # the machine form wins over the text (§5.3.2.35)
    elif "stat" in fields:
        stat = fields["stat"].upper()
        known = STAT_TEXT.get(stat)
        if known is None:  # a word of the carrier's own: not delivered, and say what it was
            state, raw_stat = ReceiptState.UNDELIVERED, fields["stat"][:MAX_RAW_STAT]
        else:
            state = known
    else:
        raise InvalidInput("receipt", "no message_state TLV and no stat: in the text")
    return Receipt(
        carrier_message_id=message_id,
        state=state,
        error_code=fields.get("err", ""),
        submitted_at=_parse_date(fields.get("submit date")),
        done_at=_parse_date(fields.get("done date")),
        raw_stat=raw_stat,
    )


def render_receipt_text(receipt: Receipt, *, submitted: int = 1, text: str = "") -> bytes:
    """The Appendix B text for `receipt` (what a carrier, or our simulator, would send)."""
    delivered = 1 if receipt.state is ReceiptState.DELIVERED else 0
    rendered = (
        f"id:{receipt.carrier_message_id} sub:{submitted:03d} dlvrd:{delivered:03d} "
        f"submit date:{_render_date(receipt.submitted_at)} "
        f"done date:{_render_date(receipt.done_at)} "
        f"stat:{receipt.raw_stat or STAT_RENDER[receipt.state]} "
        f"err:{receipt.error_code} text:{text[:20]}"
    )
    return rendered.encode("latin-1")


def normalize_message_id(message_id: str) -> str:
    """Strip, lower-case and drop leading zeros ("0" and "000" become "0")."""
    cleaned = message_id.strip().lower()
    trimmed = cleaned.lstrip("0")
    return trimmed or ("0" if cleaned else "")


def message_id_variants(message_id: str) -> tuple[str, ...]:
    """The normalised id, plus it read as hex → decimal and as decimal → hex, when those parse.

    A carrier may answer submit_sm_resp with `1a2b` and send the receipt with `6699`; both
    ids share a variant, so `set(a) & set(b)` matches them.
    """
    normal = normalize_message_id(message_id)
    variants = [normal]
    if normal and len(normal) <= _MAX_ID_DIGITS:
        if all(ch in "0123456789abcdef" for ch in normal):
            variants.append(str(int(normal, 16)))
        if normal.isdigit() and normal.isascii():
            variants.append(format(int(normal), "x"))
    return tuple(dict.fromkeys(variants))


def same_message_id(a: str, b: str) -> bool:
    """True when two carrier message ids may name the same message (hex/decimal agnostic)."""
    return bool(set(message_id_variants(a)) & set(message_id_variants(b)))
