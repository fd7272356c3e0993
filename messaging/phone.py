"""E.164 parsing and validation (phonenumbers)."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

from messaging.errors import InvalidNumber
from messaging.types import E164


@dataclass(frozen=True)
class PhoneNumber:
    """A valid destination: its E.164 form and its ISO region."""

    e164: E164
    region: str


def parse_e164(raw: str, field: str = "to") -> PhoneNumber:
    """Parse an international number (``+`` and country code) into E.164.

    Raises:
        InvalidNumber: not parseable, not international, or not a valid number.
    """
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise InvalidNumber(field, "a phone number is required")
    if not text.startswith("+"):
        raise InvalidNumber(field, f"{raw!r} is not in international format (+ and country code)")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(field, f"{raw!r} is not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber(field, f"{raw!r} is not a valid phone number")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    region = phonenumbers.region_code_for_number(parsed) or "ZZ"
    return PhoneNumber(E164(e164), region)
