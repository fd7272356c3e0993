"""E.164 parsing and validation (phonenumbers)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneMetadata

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
    fast = _canonical(text)
    if fast is not None:
        return fast
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


# Plain E.164 (what clients send nearly always): "+", a country code, the national number.
_PLAIN = re.compile(r"\+[1-9][0-9]{5,16}")


def _canonical(text: str) -> PhoneNumber | None:
    """`text` as a valid number when it is plain E.164 that phonenumbers would not rewrite
    (no national prefix to strip: checked against the region's own prefix pattern), else None
    (the full parse decides). A third of the cost of `phonenumbers.parse` + `is_valid_number`,
    and the same answer (property-tested against them in tests/unit/messaging/test_phone.py).
    """
    if _PLAIN.fullmatch(text) is None:
        return None
    for length in (1, 2, 3):
        code = int(text[1 : 1 + length])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = text[1 + length :]
    metadata = _metadata(code)
    if metadata is None or len(national) < 2:
        return None
    prefix = metadata.national_prefix_for_parsing
    if prefix is not None and re.match(prefix, national) is not None:
        return None  # parse may strip or transform a national prefix: let it
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    if national[0] == "0":  # as phonenumbers keeps leading zeros (Italy and others)
        number.italian_leading_zero = True
        zeros = 1
        while zeros < len(national) - 1 and national[zeros] == "0":
            zeros += 1
        if zeros != 1:
            number.number_of_leading_zeros = zeros
    region = phonenumbers.region_code_for_number(number)
    if region is None or not phonenumbers.is_valid_number_for_region(number, region):
        return None
    return PhoneNumber(E164(text), region)


def _metadata(code: int) -> PhoneMetadata | None:
    main = phonenumbers.region_code_for_country_code(code)
    if main == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        return PhoneMetadata.metadata_for_nongeo_region(code)
    return PhoneMetadata.metadata_for_region(main)
