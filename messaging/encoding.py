"""GSM-7 vs UCS-2 detection, segmentation and GSM-7 byte encoding (3GPP TS 23.038)."""

from __future__ import annotations

from dataclasses import dataclass

from messaging.types import Encoding

# 3GPP TS 23.038 §6.2.1 default alphabet, in code-point order 0x00..0x7F.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# §6.2.1.1 extension table: each costs two septets (ESC + char).
GSM7_EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_BASIC_INDEX = {ch: i for i, ch in enumerate(GSM7_BASIC) if ch != "\x1b"}

GSM7_SINGLE, GSM7_PART = 160, 153  # septets; 7 go to the concatenation UDH
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units


@dataclass(frozen=True)
class Segmentation:
    """How a text travels: alphabet and the text of each part."""

    encoding: Encoding
    parts: tuple[str, ...]

    @property
    def segments(self) -> int:
        """Number of SMS parts (each one `submit_sm`, each one MPS token)."""
        return len(self.parts)


_GSM7_CHARS = frozenset(_BASIC_INDEX) | frozenset(GSM7_EXTENSION)
_EXTENSION_CHARS = frozenset(GSM7_EXTENSION)


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 basic or extension table."""
    return _GSM7_CHARS.issuperset(text)


def text_cost(text: str, encoding: Encoding) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) of `text`: what `_gsm7_cost` or
    `_utf16_cost` sum to over its characters, counted in C (a character loop was most of
    `segment`'s time, and `segment` a tenth of the API's CPU on batches)."""
    if encoding is Encoding.GSM7:
        return len(text) + sum(text.count(ch) for ch in _EXTENSION_CHARS.intersection(text))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _gsm7_cost(ch: str) -> int:
    return 2 if ch in GSM7_EXTENSION else 1


def _utf16_cost(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def segment(text: str) -> Segmentation:
    """Pick the alphabet and split into parts without breaking an escape or a surrogate pair."""
    if is_gsm7(text):
        encoding, cost, single, per_part = Encoding.GSM7, _gsm7_cost, GSM7_SINGLE, GSM7_PART
    else:
        encoding, cost, single, per_part = Encoding.UCS2, _utf16_cost, UCS2_SINGLE, UCS2_PART
    if text_cost(text, encoding) <= single:
        return Segmentation(encoding, (text,))
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        c = cost(ch)
        if used + c > per_part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += c
    if current:
        parts.append("".join(current))
    return Segmentation(encoding, tuple(parts))


def encode_gsm7(text: str) -> bytes:
    """Unpacked GSM-7 (one septet per octet), as SMPP carries data_coding 0."""
    out = bytearray()
    for ch in text:
        if ch in _BASIC_INDEX:
            out.append(_BASIC_INDEX[ch])
        elif ch in GSM7_EXTENSION:
            out += bytes((0x1B, GSM7_EXTENSION[ch]))
        else:
            raise ValueError(f"{ch!r} is not in the GSM-7 alphabet")
    return bytes(out)


def decode_gsm7(data: bytes) -> str:
    """Inverse of :func:`encode_gsm7`."""
    reverse_ext = {v: k for k, v in GSM7_EXTENSION.items()}
    out: list[str] = []
    escape = False
    for b in data:
        if escape:
            out.append(reverse_ext.get(b, " "))
            escape = False
        elif b == 0x1B:
            escape = True
        else:
            out.append(GSM7_BASIC[b & 0x7F])
    return "".join(out)


def encode(text: str, encoding: Encoding) -> bytes:
    """Bytes for `short_message` in the given alphabet (UCS-2 is UTF-16-BE)."""
    return encode_gsm7(text) if encoding is Encoding.GSM7 else text.encode("utf-16-be")
